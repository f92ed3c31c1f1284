/** Query parameter names whose values are always hidden in errors and logs, whatever the config says. */
const SECRET_PARAM = /(?:^|_|-)(?:token|key|secret|password|passwd|signature|sig|auth|code|credential)s?$/i;

/**
 * Hides secrets in text bound for errors and logs: every configured secret value (tokens, keys,
 * passwords, OAuth tokens as they are obtained), and the value of any query parameter whose name looks
 * secret (`api_key`, `access_token`, `client_secret`, …).
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  /** Start with these secret values (empty and very short values are ignored: they would hide noise). */
  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Hide this value from now on (e.g. an OAuth access token once fetched). */
  add(secret: string | undefined): void {
    if (secret && secret.length >= 4) {
      this.#secrets.add(secret);
      this.#secrets.add(encodeURIComponent(secret));
      this.#secrets.add(Buffer.from(secret).toString('base64'));
    }
  }

  /** A URL with secret-looking query values replaced by `***`, then every known secret removed. */
  url(url: string | URL): string {
    let text = String(url);
    try {
      const u = new URL(text);
      let changed = false;
      for (const name of [...u.searchParams.keys()]) {
        if (SECRET_PARAM.test(name)) {
          u.searchParams.set(name, '***');
          changed = true;
        }
      }
      if (u.password) {
        u.password = '***';
        changed = true;
      }
      if (changed) text = u.toString().replaceAll('%2A%2A%2A', '***');
    } catch {
      // not a URL: only the known secrets are removed
    }
    return this.text(text);
  }

  /** Any text with every known secret replaced by `***`. */
  text(text: string): string {
    let out = text;
    // longest first, so a secret containing another is removed whole
    for (const s of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.replaceAll(s, '***');
    return out;
  }
}
