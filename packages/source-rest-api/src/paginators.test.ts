import { describe, expect, it } from 'vitest';
import {
  CursorPaginator,
  createPaginator,
  detectPaginator,
  OffsetPaginator,
  PageNumberPaginator,
  parseLinkHeader,
  type PageRequest,
  type Paginator,
} from './paginators.ts';

const req = (): PageRequest => ({ url: 'http://api.test/items', params: {}, json: undefined });
const res = (body: unknown, headers: Record<string, string> = {}) => ({
  url: 'http://api.test/items',
  headers: new Headers(headers),
  body,
});
const recs = (n: number) => Array.from({ length: n }, (_, i) => ({ i }));

/** Feed pages (record counts and bodies) until the paginator stops; returns the params of each request made. */
function drive(
  p: Paginator,
  pages: { n: number; body?: Record<string, unknown> }[],
): Record<string, string>[] {
  const r = req();
  p.init(r);
  const sent: Record<string, string>[] = [];
  for (const page of pages) {
    sent.push({ ...r.params });
    p.update(res(page.body ?? {}), recs(page.n));
    if (!p.hasNext) return sent;
    p.next(r);
  }
  throw new Error(`paginator still wants a page after ${pages.length}: ${JSON.stringify(r.params)}`);
}

describe('parseLinkHeader (RFC 8288)', () => {
  it('reads GitHub-style links, quoted and unquoted rel, several rels in one', () => {
    expect(
      parseLinkHeader(
        '<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last", <https://x.test/a?b=1,2>; rel=prev; title="a, b"',
      ),
    ).toEqual({
      next: 'https://api.github.com/repositories/1/issues?page=2',
      last: 'https://api.github.com/repositories/1/issues?page=5',
      prev: 'https://x.test/a?b=1,2',
    });
    expect(parseLinkHeader('<https://a.test/2>; rel="next last"')).toEqual({
      next: 'https://a.test/2',
      last: 'https://a.test/2',
    });
    expect(parseLinkHeader(null)).toEqual({});
  });
});

describe('offset', () => {
  it('with a total: stops at the short page past the total', () => {
    const p = new OffsetPaginator({ limit: 3 });
    expect(
      drive(p, [
        { n: 3, body: { total: 7 } },
        { n: 3, body: { total: 7 } },
        { n: 1, body: { total: 7 } },
      ]),
    ).toEqual([
      { offset: '0', limit: '3' },
      { offset: '3', limit: '3' },
      { offset: '6', limit: '3' },
    ]);
  });
  it('a full page continues even when a (stale) total says done; the next short or empty page stops', () => {
    const p = new OffsetPaginator({ limit: 3 });
    const sent = drive(p, [
      { n: 3, body: { total: 4 } },
      { n: 3, body: { total: 4 } },
      { n: 0, body: { total: 4 } },
    ]);
    expect(sent.map((s) => s['offset'])).toEqual(['0', '3', '6']);
  });
  it('without a total: a short page does not stop (servers cap page sizes), an empty one does', () => {
    const p = new OffsetPaginator({ limit: 10, totalPath: null });
    expect(drive(p, [{ n: 10 }, { n: 4 }, { n: 0 }]).map((s) => s['offset'])).toEqual(['0', '10', '20']);
  });
  it('has_more false stops; a missing total is an error naming total_path', () => {
    const p = new OffsetPaginator({ limit: 2, totalPath: null, hasMorePath: 'meta.more' });
    expect(
      drive(p, [
        { n: 2, body: { meta: { more: true } } },
        { n: 2, body: { meta: { more: false } } },
      ]),
    ).toHaveLength(2);
    const q = new OffsetPaginator({ limit: 2 });
    q.init(req());
    expect(() => q.update(res({ items: [] }), recs(2))).toThrow(/total_path 'total' is missing/);
  });
  it('a config that could never stop is refused', () => {
    expect(() =>
      createPaginator(
        { type: 'offset', limit: 5, total_path: null, stop_after_empty_page: false },
        'client.paginator',
      ),
    ).toThrow(/would never stop/);
    expect(() => createPaginator('offset', 'client.paginator')).toThrow(/needs limit/);
  });
});

describe('page_number', () => {
  it('total_pages with base_page 1: three pages, the last short', () => {
    const p = new PageNumberPaginator({ basePage: 1, totalPath: 'total_pages' });
    const body = { total_pages: 3 };
    expect(
      drive(p, [
        { n: 2, body },
        { n: 2, body },
        { n: 1, body },
      ]).map((s) => s['page']),
    ).toEqual(['1', '2', '3']);
  });
  it('one page with total 1 costs one request (a lone page cannot be judged full without page_size)', () => {
    expect(drive(new PageNumberPaginator({ basePage: 1 }), [{ n: 5, body: { total: 1 } }])).toHaveLength(1);
    const sized = new PageNumberPaginator({ basePage: 1, pageSize: 5 });
    expect(sized.probing).toBe(false);
    const sent = drive(sized, [
      { n: 5, body: { total: 1 } },
      { n: 0, body: { total: 1 } },
    ]);
    expect(sent.map((s) => s['page'])).toEqual(['1', '2']);
  });
  it('a full last page (as large as the largest before it) is followed past total_pages, as a probe', () => {
    const full = new PageNumberPaginator({ basePage: 1, totalPath: 'total_pages' });
    const body = { total_pages: 2 };
    const r = req();
    full.init(r);
    full.update(res(body), recs(2));
    expect([full.hasNext, full.probing]).toEqual([true, false]);
    full.next(r);
    full.update(res(body), recs(2));
    // page 2 of 2 is full: the count may be stale, so page 3 is asked for, marked as a probe
    expect([full.hasNext, full.probing]).toEqual([true, true]);
    full.next(r);
    expect(r.params['page']).toBe('3');
    full.update(res(body), recs(1));
    expect([full.hasNext, full.probing]).toEqual([false, false]);
  });
  it('maximum_page bounds it', () => {
    const p = new PageNumberPaginator({ totalPath: null, maximumPage: 2 });
    expect(drive(p, [{ n: 1 }, { n: 1 }]).map((s) => s['page'])).toEqual(['0', '1']);
  });
  it('page in the JSON body', () => {
    const p = createPaginator(
      { type: 'page_number', page_body_path: 'paging.page', total_path: null },
      'x',
    ) as Paginator;
    const r = req();
    p.init(r);
    expect(r.json).toEqual({ paging: { page: 0 } });
  });
});

describe('cursor', () => {
  it('Stripe style: cursor is the last id, has_more ends it', () => {
    const p = new CursorPaginator({
      cursorPath: 'data[-1:].id',
      cursorParam: 'starting_after',
      hasMorePath: 'has_more',
    });
    const r = req();
    p.init(r);
    p.update(res({ data: [{ id: 'cus_1' }, { id: 'cus_2' }], has_more: true }), recs(2));
    expect(p.hasNext).toBe(true);
    p.next(r);
    expect(r.params).toEqual({ starting_after: 'cus_2' });
    p.update(res({ data: [{ id: 'cus_3' }], has_more: false }), recs(1));
    expect(p.hasNext).toBe(false);
  });
  it('a null or empty cursor stops; a non-boolean has_more is an error', () => {
    const p = new CursorPaginator({ cursorPath: 'next' });
    p.init(req());
    p.update(res({ next: '' }), recs(1));
    expect(p.hasNext).toBe(false);
    const q = new CursorPaginator({ cursorPath: 'next', hasMorePath: 'more' });
    q.init(req());
    expect(() => q.update(res({ next: 'x', more: 'maybe' }), recs(1))).toThrow(/not a boolean/);
  });
});

describe('detectPaginator (dlt order)', () => {
  it('Link header first, then a next URL, then a page count, then a next cursor, else single page', () => {
    expect(
      detectPaginator(res([], { link: '<http://api.test/items?page=2>; rel="next"' })).paginator.type,
    ).toBe('header_link');
    const json = detectPaginator(
      res({ results: [], next: 'https://pokeapi.co/api/v2/pokemon?offset=20&limit=20' }),
    );
    expect(json.paginator.describe()).toBe('json_link (next_url_path=next)');
    const nested = detectPaginator(res({ data: [], paging: { next: { href: '/items?p=2' } } }));
    expect(nested.paginator.describe()).toBe('json_link (next_url_path=paging.next.href)');
    const pages = detectPaginator(res({ items: [], page: 1, total_pages: 4 }));
    expect(pages.paginator.describe()).toBe('page_number (base_page=1, total_path=total_pages)');
    expect(pages.reason).toContain('says it is page 1');
    expect(detectPaginator(res({ items: [], cursors: { next: 'abc' } })).paginator.describe()).toBe(
      'cursor (cursor_path=cursors.next, cursor_param=cursor)',
    );
    expect(detectPaginator(res({ items: [] })).paginator.type).toBe('single_page');
  });
});
