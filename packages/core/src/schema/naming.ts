import { createHash } from 'node:crypto';

/** Prefix of Ferry's system columns and tables; identifiers starting with it are never rewritten. */
const SYSTEM_PREFIX = '_ferry_';

/** Alphabet of the short hashes: lowercase letters and digits only, so a hash is always a safe identifier. */
const HASH_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Characters mapped to a letter rather than to `_` (dlt's snake_case), so `+1` and `-1` stay distinct. */
const CHAR_MAP: Record<string, string> = { '+': 'x', '*': 'x', '@': 'a', '|': 'l', '-': '_' };

/** Length of the hash appended when non-ASCII characters were dropped (30 bits: distinct names stay distinct). */
const LOSSY_HASH_LENGTH = 6;

/** Length of the hash inserted when an identifier is shortened (40 bits). */
const SHORTEN_HASH_LENGTH = 8;

/**
 * A stable short hash of `text`: sha256, base32 over `[a-z2-7]`. Stable across runs and machines, so the
 * same source name always maps to the same identifier.
 */
export function identifierHash(text: string, length: number): string {
  const digest = createHash('sha256').update(text, 'utf8').digest();
  let out = '';
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < digest.length && out.length < length; i++) {
    acc = (acc << 8) | digest[i]!;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      bits -= 5;
      out += HASH_ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/**
 * Turns source names into destination-safe identifiers: dlt's snake_case, improved. Lossy names (non-ASCII
 * characters dropped) get a hash suffix so distinct names stay distinct; names past the destination's limit
 * are shortened with a stable hash. Output only ever contains `[a-z0-9_]` (or `[A-Z0-9_]` when the
 * destination folds to upper case), so it is safe to quote in any SQL dialect.
 */
export class NamingConvention {
  /** Longest identifier the destination accepts (from its capabilities; 63 for Postgres). */
  readonly maxIdentifierLength: number;
  /** Case the destination folds to; identifiers are produced in that case. */
  readonly identifierCase: 'lower' | 'upper';
  /** name → identifier. Normalizing runs once per distinct field name, not once per row. */
  private readonly cache = new Map<string, string>();

  constructor(options: { maxIdentifierLength: number; identifierCase: 'lower' | 'upper' }) {
    if (
      !Number.isInteger(options.maxIdentifierLength) ||
      options.maxIdentifierLength < SHORTEN_HASH_LENGTH + 4
    ) {
      throw new RangeError(
        `maxIdentifierLength must be an integer of at least ${SHORTEN_HASH_LENGTH + 4}, got ${options.maxIdentifierLength}`,
      );
    }
    this.maxIdentifierLength = options.maxIdentifierLength;
    this.identifierCase = options.identifierCase;
  }

  /** One name component (a field or resource name) → safe identifier. Cached (a Map) because it is on the hot path. */
  normalizeIdentifier(name: string): string {
    let out = this.cache.get(name);
    if (out === undefined) {
      out = this.compute(name);
      this.cache.set(name, out);
    }
    return out;
  }

  /** Already-normalized components joined with '__', shortened as a whole past the limit. */
  joinPath(...normalizedParts: string[]): string {
    return this.shorten(normalizedParts.join('__'));
  }

  /**
   * Shorten past maxIdentifierLength: keep head and tail, insert a short stable hash of the whole identifier;
   * idempotent on short names (and on names this method already shortened, which are exactly at the limit).
   */
  shorten(identifier: string): string {
    const max = this.maxIdentifierLength;
    if (identifier.length <= max) return identifier;
    let hash = identifierHash(identifier, SHORTEN_HASH_LENGTH);
    if (this.identifierCase === 'upper') hash = hash.toUpperCase();
    const keep = max - SHORTEN_HASH_LENGTH - 2;
    const head = Math.ceil(keep / 2);
    const tail = keep - head;
    return `${identifier.slice(0, head)}_${hash}_${tail > 0 ? identifier.slice(identifier.length - tail) : ''}`;
  }

  private compute(name: string): string {
    if (name.startsWith(SYSTEM_PREFIX)) return name;
    // Diacritics off (café → cafe): NFKD splits them into combining marks, which are then dropped.
    let s = name.normalize('NFKD').replace(/\p{M}+/gu, '');
    // CamelCase → snake_case (dlt's two breaks): HTTPServer → HTTP_Server, userID → user_ID.
    s = s.replace(/([^_])([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z0-9])([A-Z])/g, '$1_$2');
    s = s.replace(/[+*@|-]/g, (c) => CHAR_MAP[c]!).toLowerCase();
    let lossy = false;
    s = s.replace(/[^a-z0-9_]+/g, (run) => {
      if (!lossy && /[^\p{ASCII}]/u.test(run)) lossy = true;
      return '_';
    });
    if (lossy || s.length === 0) {
      // Dropped characters carry meaning (名前 vs 名字): a hash of the original keeps such names apart.
      const base = s.replace(/_+$/, '');
      s = `${base}_${identifierHash(name, LOSSY_HASH_LENGTH)}`;
    }
    if (s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57) s = `_${s}`;
    // Trailing `_` → one `x` each (dlt), so `a_` and `a__` stay distinct; then collapse inner runs so that
    // `__` is only ever the path separator.
    const stripped = s.replace(/_+$/, '');
    if (stripped.length !== s.length) s = stripped + 'x'.repeat(s.length - stripped.length);
    s = s.replace(/__+/g, '_');
    if (this.identifierCase === 'upper') s = s.toUpperCase();
    return this.shorten(s);
  }
}
