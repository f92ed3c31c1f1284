import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local Google Cloud Storage JSON API server for tests, on 127.0.0.1, holding objects in memory. It
 * imitates only what `@google-cloud/storage` calls for the filesystem destination, after the JSON API
 * reference (https://cloud.google.com/storage/docs/json_api/v1) and the upload guides:
 *
 * - `GET /storage/v1/b/{bucket}` (buckets.get).
 * - `GET /storage/v1/b/{bucket}/o?prefix&maxResults&pageToken` (objects.list; `nextPageToken` pages,
 *   names in lexicographic order as GCS returns them; `delimiter` is not imitated).
 * - `GET /storage/v1/b/{bucket}/o/{object}[?generation]` (objects.get metadata) and `?alt=media` (the bytes,
 *   with `x-goog-generation`, `x-goog-hash: crc32c=…,md5=…` and `x-goog-stored-content-encoding: identity`,
 *   which the client validates). A `generation` that is not the live one is 404 (a bucket without
 *   versioning). Range reads are not imitated.
 * - `DELETE /storage/v1/b/{bucket}/o/{object}[?ifGenerationMatch]` (objects.delete).
 * - `POST /upload/storage/v1/b/{bucket}/o?uploadType=media|multipart&name&ifGenerationMatch` (simple and
 *   multipart/related uploads) and `uploadType=resumable` (a session URI in `Location`), then `PUT` chunks
 *   with `Content-Range: bytes a-b/total|*` answered 308 + `Range` until the last one, `bytes *\/*` status
 *   checks (https://cloud.google.com/storage/docs/performing-resumable-uploads).
 * - Preconditions: `ifGenerationMatch=0` (must not exist) or `=<generation>` (must be that one), checked
 *   atomically with the write (one event loop: the check and the store happen in one synchronous step),
 *   412 `conditionNotMet` otherwise; an upload's precondition is checked when it starts and when it ends.
 * - Errors as the API's `{error: {code, message, errors: [{domain, reason, message}]}}`.
 *
 * Not imitated: auth (the client skips it for a custom endpoint), ACLs, metageneration preconditions,
 * object versioning, composite objects, XML API, rate limits.
 */
export interface GcsTestServer {
  /** `http://127.0.0.1:PORT`, for `gcs.apiEndpoint`. */
  endpoint: string;
  /** Create an empty bucket. */
  createBucket(name: string): void;
  /** Every request seen (method, path, query), for assertions. */
  requests: { method: string; path: string; query: Record<string, string> }[];
  /** Answer the next `count` requests matching `match` with `status` (transient faults). */
  failNext(count: number, status: number, match?: (method: string, path: string) => boolean): void;
  /** An object's live bytes and generation (for assertions), or undefined. */
  object(bucket: string, name: string): { bytes: Buffer; generation: string } | undefined;
  /** Stop listening. */
  stop(): Promise<void>;
}

interface StoredObject {
  bytes: Buffer;
  /** Base64 MD5 and CRC32C, computed once when stored. */
  md5: string;
  crc: string;
  generation: string;
  contentType: string;
  created: string;
}

interface Session {
  bucket: string;
  name: string;
  contentType: string;
  ifGenerationMatch: string | undefined;
  chunks: Buffer[];
  received: number;
  done?: StoredObject;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli) of the bytes, base64 of the big-endian 4 bytes, as GCS reports it. */
function crc32c(bytes: Buffer): string {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Split a multipart/related body into its parts (headers are skipped; metadata first, media second). */
function multipartParts(body: Buffer, contentType: string): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new HttpError(400, 'invalid', 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    // The part ends with the CRLF that precedes the next delimiter.
    parts.push(part.subarray(headerEnd + 4, part.length - 2));
    at = next;
  }
  return parts;
}

/** Start the server on 127.0.0.1 and a free port. */
export async function startGcsServer(): Promise<GcsTestServer> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, Session>();
  const requests: GcsTestServer['requests'] = [];
  const faults: { count: number; status: number; match: (m: string, p: string) => boolean }[] = [];
  let generations = BigInt(Date.now()) * 1000n;
  let endpoint = '';

  const bucketOf = (name: string) => {
    const b = buckets.get(name);
    if (!b) throw new HttpError(404, 'notFound', `The specified bucket does not exist.`);
    return b;
  };
  const resource = (bucket: string, name: string, o: StoredObject) => ({
    kind: 'storage#object',
    id: `${bucket}/${name}/${o.generation}`,
    selfLink: `${endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`,
    name,
    bucket,
    generation: o.generation,
    metageneration: '1',
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.bytes.length),
    md5Hash: o.md5,
    crc32c: o.crc,
    etag: Buffer.from(o.generation).toString('base64'),
    timeCreated: o.created,
    updated: o.created,
  });
  /** Check `ifGenerationMatch` against the live object (412 when it does not hold). */
  const precondition = (objects: Map<string, StoredObject>, name: string, want: string | undefined) => {
    if (want === undefined) return;
    const live = objects.get(name);
    const ok = want === '0' ? live === undefined : live?.generation === want;
    if (!ok)
      throw new HttpError(
        412,
        'conditionNotMet',
        `At least one of the pre-conditions you specified did not hold.`,
      );
  };
  /** Check the precondition and store, in one synchronous step (atomic against other requests). */
  const store = (bucket: string, name: string, bytes: Buffer, contentType: string, want?: string) => {
    const objects = bucketOf(bucket);
    precondition(objects, name, want);
    generations += 1n;
    const o = {
      bytes,
      md5: createHash('md5').update(bytes).digest('base64'),
      crc: crc32c(bytes),
      generation: String(generations),
      contentType,
      created: new Date().toISOString(),
    };
    objects.set(name, o);
    return o;
  };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname, query });
    const fault = faults.find((f) => f.count > 0 && f.match(method, url.pathname));
    if (fault) {
      fault.count--;
      await readBody(req);
      throw new HttpError(fault.status, 'backendError', 'injected fault');
    }
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    // /storage/v1/b/{bucket}[/o[/{object}]]
    if (parts[0] === 'storage' && parts[1] === 'v1' && parts[2] === 'b' && parts[3]) {
      const bucket = parts[3];
      if (parts.length === 4 && method === 'GET') {
        bucketOf(bucket);
        return json(res, 200, { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US' });
      }
      if (parts[4] === 'o' && parts.length === 5 && method === 'GET') {
        const objects = bucketOf(bucket);
        const prefix = query.prefix ?? '';
        const max = Math.min(Number(query.maxResults ?? 1000) || 1000, 1000);
        const names = [...objects.keys()]
          .filter((n) => n.startsWith(prefix) && (!query.pageToken || n > query.pageToken))
          .sort();
        const page = names.slice(0, max);
        return json(res, 200, {
          kind: 'storage#objects',
          items: page.map((n) => resource(bucket, n, objects.get(n)!)),
          ...(names.length > max ? { nextPageToken: page.at(-1) } : {}),
        });
      }
      if (parts[4] === 'o' && parts.length >= 6) {
        const name = parts.slice(5).join('/');
        const objects = bucketOf(bucket);
        if (method === 'DELETE') {
          if (!objects.has(name)) throw new HttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
          precondition(objects, name, query.ifGenerationMatch);
          objects.delete(name);
          res.writeHead(204).end();
          return;
        }
        if (method === 'GET') {
          const o = objects.get(name);
          if (!o || (query.generation !== undefined && query.generation !== o.generation))
            throw new HttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
          if (query.alt !== 'media') return json(res, 200, resource(bucket, name, o));
          const r = resource(bucket, name, o);
          res.writeHead(200, {
            'content-type': o.contentType,
            'content-length': String(o.bytes.length),
            'x-goog-generation': o.generation,
            'x-goog-metageneration': '1',
            'x-goog-hash': `crc32c=${r.crc32c},md5=${r.md5Hash}`,
            'x-goog-stored-content-encoding': 'identity',
            'x-goog-stored-content-length': String(o.bytes.length),
          });
          res.end(o.bytes);
          return;
        }
      }
    }
    // /upload/storage/v1/b/{bucket}/o
    if (parts[0] === 'upload' && parts[1] === 'storage' && parts[3] === 'b' && parts[5] === 'o' && parts[4]) {
      const bucket = parts[4];
      const uploadType = query.uploadType;
      if (method === 'POST' && uploadType === 'media') {
        const bytes = await readBody(req);
        const name = query.name ?? '';
        const o = store(
          bucket,
          name,
          bytes,
          req.headers['content-type'] ?? 'application/octet-stream',
          query.ifGenerationMatch,
        );
        return json(res, 200, resource(bucket, name, o));
      }
      if (method === 'POST' && uploadType === 'multipart') {
        const body = await readBody(req);
        const [meta, media] = multipartParts(body, req.headers['content-type'] ?? '');
        if (!meta || !media)
          throw new HttpError(400, 'invalid', 'multipart upload needs a metadata and a media part');
        const metadata = JSON.parse(meta.toString() || '{}') as { name?: string; contentType?: string };
        const name = query.name ?? metadata.name ?? '';
        const o = store(
          bucket,
          name,
          Buffer.from(media),
          metadata.contentType ?? 'application/octet-stream',
          query.ifGenerationMatch,
        );
        return json(res, 200, resource(bucket, name, o));
      }
      if (method === 'POST' && uploadType === 'resumable') {
        const metadata = JSON.parse((await readBody(req)).toString() || '{}') as {
          name?: string;
          contentType?: string;
        };
        const name = query.name ?? metadata.name ?? '';
        precondition(bucketOf(bucket), name, query.ifGenerationMatch);
        const id = randomUUID();
        sessions.set(id, {
          bucket,
          name,
          contentType:
            metadata.contentType ??
            String(req.headers['x-upload-content-type'] ?? 'application/octet-stream'),
          ifGenerationMatch: query.ifGenerationMatch,
          chunks: [],
          received: 0,
        });
        res.writeHead(200, {
          location: `${endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`,
          'content-length': '0',
        });
        res.end();
        return;
      }
      if (method === 'PUT' && query.upload_id) {
        const session = sessions.get(query.upload_id);
        if (!session) throw new HttpError(404, 'notFound', 'No such upload session');
        const body = await readBody(req);
        const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\d+|\*)$/.exec(
          String(req.headers['content-range'] ?? ''),
        );
        if (!range)
          throw new HttpError(400, 'invalid', `bad Content-Range '${req.headers['content-range']}'`);
        const incomplete = () => {
          res.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {});
          res.end();
        };
        if (session.done) return json(res, 200, resource(session.bucket, session.name, session.done));
        if (range[1] !== '*') {
          const start = Number(range[2]);
          if (start > session.received)
            throw new HttpError(400, 'invalid', `chunk starts at ${start}, have ${session.received}`);
          // Bytes already received are skipped (a resent chunk).
          const fresh = body.subarray(session.received - start);
          session.chunks.push(Buffer.from(fresh));
          session.received += fresh.length;
        }
        const total = range[4] === '*' ? (range[3] === '*' ? session.received : undefined) : Number(range[4]);
        if (total === undefined || session.received < total) return incomplete();
        const o = store(
          session.bucket,
          session.name,
          Buffer.concat(session.chunks),
          session.contentType,
          session.ifGenerationMatch,
        );
        session.done = o;
        sessions.delete(query.upload_id);
        return json(res, 200, resource(session.bucket, session.name, o));
      }
    }
    throw new HttpError(404, 'notFound', `not imitated: ${method} ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const e = error instanceof HttpError ? error : new HttpError(500, 'backendError', String(error));
      if (!res.headersSent)
        json(res, e.status, {
          error: {
            code: e.status,
            message: e.message,
            errors: [{ domain: 'global', reason: e.reason, message: e.message }],
          },
        });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    requests,
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    failNext(count, status, match = () => true) {
      faults.push({ count, status, match });
    },
    object(bucket, name) {
      const o = buckets.get(bucket)?.get(name);
      return o ? { bytes: o.bytes, generation: o.generation } : undefined;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
