import { createHash } from 'node:crypto';

/** Short stable hash (sha256, base64url) of a string; `length` characters, default 22 (132 bits). */
export function shortHash(text: string, length = 22): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, length);
}
