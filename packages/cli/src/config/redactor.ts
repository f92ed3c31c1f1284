/** What a redacted secret is replaced with. */
export const REDACTED = '***';

/**
 * Removes known secret values from any text before it is printed: tokens and passwords read from the
 * environment or a secrets file, and inline values of secret fields. Values shorter than 4 characters are
 * not tracked (they would blank out ordinary words); a secret that short is not a secret.
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Remember a secret value (and, for URLs, its password part). */
  add(value: unknown): void {
    if (typeof value !== 'string' || value.length < 4) return;
    this.#secrets.add(value);
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@\s]+)@/i.exec(value)?.[1];
    if (password !== undefined && password.length >= 4) {
      this.#secrets.add(password);
      try {
        this.#secrets.add(decodeURIComponent(password));
      } catch {
        // not URI-encoded: the raw form is already tracked
      }
    }
  }

  /** Replace every tracked secret in `text` with `***` (longest first, so overlapping values are covered). */
  redact(text: string): string {
    let out = text;
    for (const secret of [...this.#secrets].sort((a, b) => b.length - a.length)) {
      out = out.split(secret).join(REDACTED);
    }
    return out;
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
