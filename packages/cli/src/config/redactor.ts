/** What a redacted secret is replaced with. */
export const REDACTED = '***';

/** Shortest value the text redactor tracks; shorter ones would blank out ordinary words. */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Removes known secret values from any text before it is printed. Secrets are registered by
 * provenance: every value that came from `${VAR}` interpolation or a secrets file, plus inline values
 * of secret fields. Each value is also tracked in the forms it takes inside other text (JSON-escaped,
 * URI-encoded, and a URL's password part). Values shorter than {@link MIN_REDACTED_LENGTH} characters are
 * not tracked in free text (they would blank out ordinary words); `validate --print` masks those
 * structurally instead.
 *
 * A redactor may have a parent (the command's, see `CommandContext.redactor`): what it learns, the
 * parent learns too, so an error that escapes the command is still redacted where it is printed.
 */
export class Redactor {
  readonly #secrets = new Set<string>();
  readonly #parent: Redactor | undefined;
  #byPrefix: Map<string, string[]> | undefined;

  /** `parent`: also register every secret there. Default none. */
  constructor(parent?: Redactor) {
    this.#parent = parent;
  }

  /** Remember a secret value (and its escaped and encoded forms, and for URLs their password part). */
  add(value: unknown): void {
    if (typeof value !== 'string' || value.length < MIN_REDACTED_LENGTH) return;
    this.#parent?.add(value);
    this.#track(value);
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@\s]+)@/i.exec(value)?.[1];
    if (password !== undefined && password.length >= MIN_REDACTED_LENGTH) {
      this.#track(password);
      try {
        this.#track(decodeURIComponent(password));
      } catch {
        // not URI-encoded: the raw form is already tracked
      }
    }
  }

  #track(value: string): void {
    this.#byPrefix = undefined;
    this.#secrets.add(value);
    // The same secret inside a JSON line or a URL looks different: track those spellings too.
    const json = JSON.stringify(value).slice(1, -1);
    if (json !== value) this.#secrets.add(json);
    const uri = encodeURIComponent(value);
    if (uri !== value) this.#secrets.add(uri);
  }

  /** True when no secret is tracked. */
  get empty(): boolean {
    return this.#secrets.size === 0;
  }

  /**
   * Replace every tracked secret in `text` with `***`. Every character of every occurrence of any secret
   * is covered (overlapping secrets merge into one `***`), and the cost is linear in the text: secrets are
   * indexed by their first {@link MIN_REDACTED_LENGTH} characters, so thousands of them (a credentials
   * block with 40,000 keys) do not make each message cost thousands of scans.
   */
  redact(text: string): string {
    if (this.#secrets.size === 0 || text.length < MIN_REDACTED_LENGTH) return text;
    const index = this.#index();
    let out = '';
    let copied = 0; // text before this offset is already in `out`
    let coveredTo = -1; // end of the secret run being replaced
    for (let i = 0; i + MIN_REDACTED_LENGTH <= text.length; i++) {
      const candidates = index.get(text.slice(i, i + MIN_REDACTED_LENGTH));
      if (candidates === undefined) continue;
      for (const secret of candidates) {
        if (!text.startsWith(secret, i)) continue;
        if (i > coveredTo) {
          out += `${text.slice(copied, i)}${REDACTED}`;
        }
        coveredTo = Math.max(coveredTo, i + secret.length);
        copied = coveredTo;
        break; // longest first: the others end earlier
      }
    }
    return copied === 0 ? text : out + text.slice(copied);
  }

  /** Secrets by their first characters, longest first (built once per change). */
  #index(): Map<string, string[]> {
    if (this.#byPrefix !== undefined) return this.#byPrefix;
    const index = new Map<string, string[]>();
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) {
      const key = secret.slice(0, MIN_REDACTED_LENGTH);
      const list = index.get(key);
      if (list === undefined) index.set(key, [secret]);
      else list.push(secret);
    }
    this.#byPrefix = index;
    return index;
  }

  /** Deep-copy a JSON-like value with every tracked secret string redacted. */
  redactValue<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value) ?? 'null')) as T;
  }
}

/** Field names whose values are secrets even when written inline (they are always shown as `***`). */
export const SECRET_FIELD_NAMES: ReadonlySet<string> = new Set([
  'api_token',
  'password',
  'private_key',
  'secret_access_key',
  'session_token',
  'access_key_id',
  'credentials',
  'token',
]);
