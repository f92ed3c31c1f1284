import { ConfigError } from '@ferry/core';
import type { PaginatorConfig } from './config.ts';
import { findValue, setAtPath } from './jsonpath.ts';

/** One request of a paged call, as the paginators change it. */
export interface PageRequest {
  /** Absolute URL without the `params` below (a next-page link carries its own query). */
  url: string;
  /** Query parameters added to `url`. */
  params: Record<string, string>;
  /** JSON body, when the endpoint sends one. */
  json: Record<string, unknown> | undefined;
}

/** What a paginator sees of a response. */
export interface PageResponse {
  /** Final URL of the response. */
  url: string;
  /** Response headers. */
  headers: Headers;
  /** Parsed JSON body (undefined for an empty body). */
  body: unknown;
}

/** A paginator: set up the first request, read each response, change the request for the next page. */
export interface Paginator {
  /** Name for logs and errors (`offset`, `header_link`, …). */
  readonly type: string;
  /** False once the last page has been read. */
  readonly hasNext: boolean;
  /** Put the first page's parameters into the request. */
  init(request: PageRequest): void;
  /** Read a response and its records; decides {@link hasNext}. */
  update(response: PageResponse, records: readonly unknown[]): void;
  /** Change the request to fetch the next page. */
  next(request: PageRequest): void;
  /** Short description of the paginator's settings, for the log line of `auto`. */
  describe(): string;
  /**
   * True when the next request goes past the end the API's total declared, only because the last page
   * was full (the total may be stale). Such a probe that comes back empty, already read, or refused with a
   * 4xx ends the call quietly: the total said so. Default false (paginators without a total).
   */
  readonly probing?: boolean;
}

function toInt(value: unknown, what: string, type: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new PaginationDataError(`${type}: ${what} is not a number (got ${JSON.stringify(value)})`);
  return n;
}

function toBool(value: unknown, path: string, type: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new PaginationDataError(
    `${type}: has_more_path '${path}' is ${value === undefined ? 'missing' : `not a boolean (got ${JSON.stringify(value)})`} in the response`,
  );
}

/** A response did not carry what the paginator needs (a total, a boolean); wrapped with the URL by the caller. */
export class PaginationDataError extends Error {}

/** One page and done. */
export class SinglePagePaginator implements Paginator {
  readonly type = 'single_page';
  hasNext = true;
  init(_request?: PageRequest): void {
    this.hasNext = true;
  }
  update(): void {
    this.hasNext = false;
  }
  next(): void {}
  describe(): string {
    return 'single_page';
  }
}

/** Follows a next-page URL (from the body or the Link header); stops when there is none. */
abstract class NextUrlPaginator implements Paginator {
  abstract readonly type: string;
  hasNext = true;
  protected nextUrl: string | undefined;
  init(_request?: PageRequest): void {
    this.hasNext = true;
    this.nextUrl = undefined;
  }
  abstract update(response: PageResponse, records: readonly unknown[]): void;
  protected setNext(url: unknown, base: string): void {
    if (typeof url === 'string' && url.trim() !== '') {
      this.nextUrl = new URL(url, base).toString();
      this.hasNext = true;
    } else {
      this.nextUrl = undefined;
      this.hasNext = false;
    }
  }
  next(request: PageRequest): void {
    request.url = this.nextUrl!;
    // the link carries the query of the next page; keeping our params would duplicate or override it
    request.params = {};
  }
  abstract describe(): string;
}

/** RFC 8288 `Link: <url>; rel="next"` (GitHub, GitLab, Shopify). */
export class HeaderLinkPaginator extends NextUrlPaginator {
  readonly type = 'header_link';
  /** `rel` of the next link. Default `next`. */
  readonly linksNextKey: string;
  constructor(linksNextKey = 'next') {
    super();
    this.linksNextKey = linksNextKey;
  }
  update(response: PageResponse): void {
    this.setNext(parseLinkHeader(response.headers.get('link'))[this.linksNextKey], response.url);
  }
  describe(): string {
    return `header_link (rel=${this.linksNextKey})`;
  }
}

/** Next page URL in the JSON body at `next_url_path`. */
export class JsonLinkPaginator extends NextUrlPaginator {
  readonly type = 'json_link';
  /** JSONPath of the next URL. Default `next`. */
  readonly nextUrlPath: string;
  constructor(nextUrlPath = 'next') {
    super();
    this.nextUrlPath = nextUrlPath;
  }
  update(response: PageResponse): void {
    this.setNext(findValue(this.nextUrlPath, response.body), response.url);
  }
  describe(): string {
    return `json_link (next_url_path=${this.nextUrlPath})`;
  }
}

/** Settings of {@link CursorPaginator} (dlt's names). */
export interface CursorPaginatorOptions {
  /** JSONPath of the next cursor in the body. Default `cursors.next`. */
  cursorPath?: string | undefined;
  /** Query parameter the cursor is sent as. Default `cursor`. */
  cursorParam?: string | undefined;
  /** Send the cursor in the JSON body at this dotted path instead. */
  cursorBodyPath?: string | undefined;
  /** Stop at an empty page. Default true. */
  stopAfterEmptyPage?: boolean | undefined;
  /** JSONPath of a boolean "more pages" flag (Stripe's `has_more`). */
  hasMorePath?: string | undefined;
}

/** Cursor from the body (`cursor_path`) sent back as a query parameter or a JSON body field. */
export class CursorPaginator implements Paginator {
  readonly type = 'cursor';
  hasNext = true;
  private cursor: string | undefined;
  private readonly o: CursorPaginatorOptions;
  constructor(options: CursorPaginatorOptions = {}) {
    if (options.cursorParam && options.cursorBodyPath)
      throw new ConfigError('cursor paginator: set cursor_param or cursor_body_path, not both');
    this.o = options;
  }
  init(_request?: PageRequest): void {
    this.hasNext = true;
    this.cursor = undefined;
  }
  update(response: PageResponse, records: readonly unknown[]): void {
    const path = this.o.cursorPath ?? 'cursors.next';
    const value = findValue(path, response.body);
    this.cursor = value === null || value === undefined || value === '' ? undefined : String(value);
    this.hasNext = this.cursor !== undefined;
    if ((this.o.stopAfterEmptyPage ?? true) && records.length === 0) this.hasNext = false;
    if (this.hasNext && this.o.hasMorePath)
      this.hasNext = toBool(findValue(this.o.hasMorePath, response.body), this.o.hasMorePath, this.type);
  }
  next(request: PageRequest): void {
    if (this.o.cursorBodyPath) setAtPath((request.json ??= {}), this.o.cursorBodyPath, this.cursor);
    else request.params[this.o.cursorParam ?? 'cursor'] = this.cursor!;
  }
  describe(): string {
    return `cursor (cursor_path=${this.o.cursorPath ?? 'cursors.next'}, cursor_param=${this.o.cursorParam ?? 'cursor'})`;
  }
}

/** Settings shared by offset and page_number paging. */
interface RangeOptions {
  param: string | undefined;
  bodyPath: string | undefined;
  initial: number;
  step: number;
  totalPath: string | null;
  maximum: number | undefined;
  stopAfterEmptyPage: boolean;
  hasMorePath: string | undefined;
}

/** Shared by offset and page_number: a number stepped each page, stopped by total, has_more, maximum or an empty page. */
abstract class RangePaginator implements Paginator {
  abstract readonly type: string;
  hasNext = true;
  probing = false;
  protected current: number;
  protected pageIndex = 0;
  /** Most records any page of this call held (a page holding as many is judged full). */
  protected largestPage = 0;
  protected readonly r: RangeOptions;
  constructor(r: RangeOptions) {
    this.r = r;
    this.current = r.initial;
  }
  init(request: PageRequest): void {
    this.hasNext = true;
    this.current = this.r.initial;
    this.pageIndex = 0;
    this.largestPage = 0;
    this.probing = false;
    this.place(request);
  }
  /** True when the page holds as many records as a full page (so the total may be stale: read on). */
  protected abstract isFull(records: readonly unknown[]): boolean;
  /** The value past the last one the total allows. */
  protected abstract end(total: number): number;
  update(response: PageResponse, records: readonly unknown[]): void {
    this.pageIndex++;
    const full = records.length > 0 && this.isFull(records);
    this.largestPage = Math.max(this.largestPage, records.length);
    this.probing = false;
    if (this.r.stopAfterEmptyPage && records.length === 0) {
      this.hasNext = false;
      return;
    }
    this.current += this.r.step;
    let more = true;
    const totalPath = this.r.totalPath;
    if (totalPath) {
      const raw = findValue(totalPath, response.body);
      if (raw === undefined || raw === null)
        throw new PaginationDataError(
          `${this.type}: total_path '${totalPath}' is missing in the response; set total_path to where the total is, or total_path: null`,
        );
      const total = toInt(raw, `total_path '${totalPath}'`, this.type);
      // A total says where the data ends, but it may be stale (rows added while paging): a full page
      // means there may be more, so only a short (or empty) page past the total ends the call.
      if (this.current >= this.end(total)) {
        if (full) this.probing = true;
        else more = false;
      }
    }
    if (this.r.maximum !== undefined && this.current >= this.r.maximum) more = false;
    if (more && this.r.hasMorePath)
      more = toBool(findValue(this.r.hasMorePath, response.body), this.r.hasMorePath, this.type);
    this.hasNext = more;
    if (!more) this.probing = false;
  }
  protected place(request: PageRequest): void {
    if (this.r.bodyPath) setAtPath((request.json ??= {}), this.r.bodyPath, this.current);
    else request.params[this.r.param!] = String(this.current);
  }
  next(request: PageRequest): void {
    this.place(request);
  }
  abstract describe(): string;
}

/** Settings of {@link OffsetPaginator} (dlt's names). */
export interface OffsetPaginatorOptions {
  /** Records per page. Required. */
  limit: number;
  /** First offset. Default 0. */
  offset?: number | undefined;
  /** Default `offset`. */
  offsetParam?: string | undefined;
  /** Default `limit`. */
  limitParam?: string | undefined;
  /** Offset in the JSON body at this dotted path instead of the query. */
  offsetBodyPath?: string | undefined;
  /** Limit in the JSON body at this dotted path instead of the query. */
  limitBodyPath?: string | undefined;
  /** JSONPath of the total record count; null for none. Default `total`. */
  totalPath?: string | null | undefined;
  /** Stop once the offset reaches this. */
  maximumOffset?: number | undefined;
  /** Stop at an empty page. Default true. */
  stopAfterEmptyPage?: boolean | undefined;
  /** JSONPath of a boolean "more pages" flag. */
  hasMorePath?: string | undefined;
}

/** `offset`/`limit` paging (with or without a total). */
export class OffsetPaginator extends RangePaginator {
  readonly type = 'offset';
  private readonly o: OffsetPaginatorOptions;
  constructor(o: OffsetPaginatorOptions) {
    super({
      param: o.offsetBodyPath ? undefined : (o.offsetParam ?? 'offset'),
      bodyPath: o.offsetBodyPath,
      initial: o.offset ?? 0,
      step: o.limit,
      totalPath: o.totalPath === undefined ? 'total' : o.totalPath,
      maximum: o.maximumOffset,
      stopAfterEmptyPage: o.stopAfterEmptyPage ?? true,
      hasMorePath: o.hasMorePath,
    });
    this.o = o;
  }
  protected isFull(records: readonly unknown[]): boolean {
    return records.length >= this.o.limit;
  }
  protected end(total: number): number {
    return total;
  }
  protected override place(request: PageRequest): void {
    super.place(request);
    if (this.o.limitBodyPath) setAtPath((request.json ??= {}), this.o.limitBodyPath, this.o.limit);
    else request.params[this.o.limitParam ?? 'limit'] = String(this.o.limit);
  }
  describe(): string {
    return `offset (limit=${this.o.limit}, total_path=${this.r.totalPath ?? 'none'})`;
  }
}

/** Settings of {@link PageNumberPaginator} (dlt's names). */
export interface PageNumberPaginatorOptions {
  /** Number of the first page on the server. Default 0. */
  basePage?: number | undefined;
  /** Page of the first request. Default basePage. */
  page?: number | undefined;
  /** Default `page`. */
  pageParam?: string | undefined;
  /** Page number in the JSON body at this dotted path instead. */
  pageBodyPath?: string | undefined;
  /** JSONPath of the total page count; null for none. Default `total`. */
  totalPath?: string | null | undefined;
  /** Stop once the page number reaches this. */
  maximumPage?: number | undefined;
  /** Stop at an empty page. Default true. */
  stopAfterEmptyPage?: boolean | undefined;
  /** JSONPath of a boolean "more pages" flag. */
  hasMorePath?: string | undefined;
  /**
   * Records on a full page (the `per_page` the endpoint sends). Ferry-only. Default: learned from the
   * call, a page as large as the largest before it counts as full. Set it so that a full first page is
   * not trusted when the page count says it is the last.
   */
  pageSize?: number | undefined;
}

/** Page numbers (`page=1,2,…`), with the total number of pages or without. */
export class PageNumberPaginator extends RangePaginator {
  readonly type = 'page_number';
  private readonly basePage: number;
  private readonly pageSize: number | undefined;
  constructor(o: PageNumberPaginatorOptions = {}) {
    super({
      param: o.pageBodyPath ? undefined : (o.pageParam ?? 'page'),
      bodyPath: o.pageBodyPath,
      initial: o.page ?? o.basePage ?? 0,
      step: 1,
      totalPath: o.totalPath === undefined ? 'total' : o.totalPath,
      maximum: o.maximumPage,
      stopAfterEmptyPage: o.stopAfterEmptyPage ?? true,
      hasMorePath: o.hasMorePath,
    });
    this.basePage = o.basePage ?? 0;
    this.pageSize = o.pageSize;
  }
  /**
   * The request carries no page size, so it is `page_size` when set, else learned: a page as large as
   * the largest earlier page of the call is full. A lone first page cannot be judged without
   * `page_size`. (A probe past the page count that an API clamps to its last page reads as already
   * seen and ends the call quietly; see {@link Paginator.probing}.)
   */
  protected isFull(records: readonly unknown[]): boolean {
    if (this.pageSize !== undefined) return records.length >= this.pageSize;
    return this.largestPage > 0 && records.length >= this.largestPage;
  }
  protected end(total: number): number {
    return total + this.basePage;
  }
  describe(): string {
    return `page_number (base_page=${this.basePage}, total_path=${this.r.totalPath ?? 'none'})`;
  }
}

/** Parse an RFC 8288 Link header into `{rel: url}` (first link of each rel wins). */
export function parseLinkHeader(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const m of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g)) {
    const url = m[1]!;
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(m[2] ?? '');
    const rels = (rel?.[1] ?? rel?.[2] ?? '').split(/\s+/).filter(Boolean);
    for (const r of rels) out[r.toLowerCase()] ??= url;
  }
  return out;
}

/** Build a paginator from its config entry. `auto` is handled by {@link detectPaginator}. */
export function createPaginator(config: PaginatorConfig, where: string): Paginator | 'auto' {
  if (typeof config === 'string') {
    if (config === 'offset')
      throw new ConfigError(`${where}: the offset paginator needs limit: write {type: offset, limit: 100}`, {
        path: where,
      });
    config = { type: config } as PaginatorConfig;
  }
  const c = config as Exclude<PaginatorConfig, string>;
  switch (c.type) {
    case 'auto':
      return 'auto';
    case 'single_page':
      return new SinglePagePaginator();
    case 'json_link':
      return new JsonLinkPaginator(c.next_url_path);
    case 'header_link':
      return new HeaderLinkPaginator(c.links_next_key);
    case 'cursor':
      return new CursorPaginator({
        cursorPath: c.cursor_path,
        cursorParam: c.cursor_param,
        cursorBodyPath: c.cursor_body_path,
        stopAfterEmptyPage: c.stop_after_empty_page,
        hasMorePath: c.has_more_path,
      });
    case 'offset': {
      if (
        c.total_path === null &&
        c.maximum_offset === undefined &&
        !c.has_more_path &&
        c.stop_after_empty_page === false
      )
        throw new ConfigError(
          `${where}: offset paginator without total_path, maximum_offset, has_more_path or stop_after_empty_page would never stop`,
          { path: where },
        );
      return new OffsetPaginator({
        limit: c.limit,
        offset: c.offset,
        offsetParam: c.offset_param,
        limitParam: c.limit_param,
        offsetBodyPath: c.offset_body_path,
        limitBodyPath: c.limit_body_path,
        totalPath: c.total_path,
        maximumOffset: c.maximum_offset,
        stopAfterEmptyPage: c.stop_after_empty_page,
        hasMorePath: c.has_more_path,
      });
    }
    case 'page_number': {
      if (
        c.total_path === null &&
        c.maximum_page === undefined &&
        !c.has_more_path &&
        c.stop_after_empty_page === false
      )
        throw new ConfigError(
          `${where}: page_number paginator without total_path, maximum_page, has_more_path or stop_after_empty_page would never stop`,
          { path: where },
        );
      return new PageNumberPaginator({
        basePage: c.base_page,
        page: c.page,
        pageParam: c.page_param,
        pageBodyPath: c.page_body_path,
        totalPath: c.total_path,
        maximumPage: c.maximum_page,
        stopAfterEmptyPage: c.stop_after_empty_page,
        hasMorePath: c.has_more_path,
        pageSize: c.page_size,
      });
    }
  }
}

const NEXT_KEY = /^next$/i;
const NEXT_DICT_KEY = /^(?:href|url)$/i;
const TOTAL_PAGES_KEY = /^(?:total_pages|pages|totalpages)$/i;
const CURRENT_PAGE_KEY = /^(?:page|current_page|currentpage|page_number|pagenumber)$/i;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function findKey(
  body: unknown,
  match: (key: string, value: unknown) => string[] | undefined,
  path: string[] = [],
): string[] | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  for (const [key, value] of Object.entries(body)) {
    const hit = match(key, value);
    if (hit) return [...path, ...hit];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const deeper = findKey(value, match, [...path, key]);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

function nextKeyPath(body: unknown): { path: string[]; value: unknown } | undefined {
  let found: unknown;
  const path = findKey(body, (key, value) => {
    if (!NEXT_KEY.test(key)) return undefined;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value))
        if (NEXT_DICT_KEY.test(k) && ['string', 'number'].includes(typeof v)) {
          found = v;
          return [key, k];
        }
      return undefined;
    }
    if (['string', 'number'].includes(typeof value)) {
      found = value;
      return [key];
    }
    return undefined;
  });
  return path ? { path, value: found } : undefined;
}

/**
 * dlt's detection order on the first response: a `Link: rel="next"` header, a `next` URL in the body,
 * a total page count, a `next` cursor in the body, else a single page. Returns the paginator and why.
 */
export function detectPaginator(response: PageResponse): { paginator: Paginator; reason: string } {
  if (parseLinkHeader(response.headers.get('link'))['next'])
    return { paginator: new HeaderLinkPaginator(), reason: 'the response has a Link header with rel="next"' };
  const next = nextKeyPath(response.body);
  if (next && typeof next.value === 'string' && (next.value.startsWith('http') || next.value.startsWith('/')))
    return {
      paginator: new JsonLinkPaginator(next.path.join('.')),
      reason: `the body has a next-page URL at '${next.path.join('.')}'`,
    };
  const totalPages = findKey(response.body, (key, value) =>
    TOTAL_PAGES_KEY.test(key) && Number.isFinite(Number(value)) && value !== null && value !== ''
      ? [key]
      : undefined,
  );
  if (totalPages) {
    // the first request carried no page number; the page the server says it sent is the base page
    const holder =
      totalPages.length > 1 ? findValue(totalPages.slice(0, -1).join('.'), response.body) : response.body;
    const current = isRecord(holder)
      ? Object.entries(holder).find(([k, v]) => CURRENT_PAGE_KEY.test(k) && Number.isInteger(Number(v)))
      : undefined;
    const basePage = current ? Number(current[1]) : 0;
    return {
      paginator: new PageNumberPaginator({ totalPath: totalPages.join('.'), basePage }),
      reason: `the body has a page count at '${totalPages.join('.')}'${current ? ` and says it is page ${basePage}` : ' (first page assumed 0; set base_page if the API counts from 1)'}`,
    };
  }
  if (next)
    return {
      paginator: new CursorPaginator({ cursorPath: next.path.join('.') }),
      reason: `the body has a next cursor at '${next.path.join('.')}'`,
    };
  return { paginator: new SinglePagePaginator(), reason: 'no paging information in the first response' };
}
