import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets, toJson } from './dashboard-json.ts';

describe('toJson', () => {
  it('keeps bigints exact, dates as ISO, bytes as hex', () => {
    const out = JSON.parse(
      toJson({
        id: 2n ** 63n - 1n,
        at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
        blob: new Uint8Array([1, 255]),
        m: new Map([['a', 1]]),
      }),
    );
    expect(out).toEqual({
      id: '9223372036854775807',
      at: '2026-01-02T03:04:05.006Z',
      blob: '\\x01ff',
      m: { a: 1 },
    });
  });
});

describe('redactSecrets', () => {
  it('replaces the values of secret-looking keys at any depth and keeps the rest', () => {
    const doc = {
      lastFinishedAt: '2026-01-01',
      inFlight: [1, 2],
      auth: { apiToken: 't', password: 'p', nested: [{ client_secret: 's', ok: 1 }] },
      tokenizer: 'x',
    };
    expect(redactSecrets(doc)).toEqual({
      lastFinishedAt: '2026-01-01',
      inFlight: [1, 2],
      auth: { apiToken: REDACTED, password: REDACTED, nested: [{ client_secret: REDACTED, ok: 1 }] },
      tokenizer: REDACTED,
    });
    expect(doc.auth.apiToken).toBe('t'); // a copy
  });
});
