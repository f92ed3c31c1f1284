/**
 * The datetime forms dbt Cloud really writes, by endpoint (API reference §5), so client parsers are
 * exercised the way production exercises them. Times are held as epoch microseconds.
 */

/** Which form a field uses. */
export type DatetimeStyle = 'space' | 'iso' | 'isoZ';

/**
 * Format epoch microseconds: `space` = `2023-05-27 21:05:16.109548+00:00` (runs, steps, projects…),
 * `iso` = `2021-11-18T15:19:03.185668+00:00` (jobs, accounts), `isoZ` = `2024-03-25T13:47:20.129690Z`
 * (a job nested in a run). The fraction is dropped when the microseconds are 0, as audit logs do.
 */
export function formatDatetime(us: number | null | undefined, style: DatetimeStyle): string | null {
  if (us === null || us === undefined) return null;
  const ms = Math.floor(us / 1000);
  const micros = us - ms * 1000;
  const iso = new Date(ms).toISOString(); // 2023-05-27T21:05:16.109Z
  const frac = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`;
  const body = `${iso.slice(0, 10)}${style === 'space' ? ' ' : 'T'}${iso.slice(11, 19)}`;
  const fraction = frac === '000000' ? '' : `.${frac}`;
  return `${body}${fraction}${style === 'isoZ' ? 'Z' : '+00:00'}`;
}

/** `HH:MM:SS` duration string from microseconds. */
export function formatDuration(us: number | null): string | null {
  if (us === null || us < 0) return null;
  const s = Math.floor(us / 1_000_000);
  const hh = String(Math.floor(s / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}`;
}

/** English "1 minute, 50 seconds" form of a duration, as dbt Cloud's `*_humanized` fields. */
export function humanizeDuration(us: number | null): string | null {
  if (us === null || us < 0) return null;
  const s = Math.floor(us / 1_000_000);
  const m = Math.floor(s / 60);
  const rest = s % 60;
  if (m === 0) return `${rest} second${rest === 1 ? '' : 's'}`;
  return `${m} minute${m === 1 ? '' : 's'}, ${rest} second${rest === 1 ? '' : 's'}`;
}

/**
 * Parse a datetime as a client may send it in a `*__range` filter: naive (taken as UTC) or with an
 * offset, `T` or space, optional fraction. Returns epoch microseconds, or undefined.
 */
export function parseFilterDatetime(text: string): number | undefined {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(
      text.trim(),
    );
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const f = (frac ?? '').padEnd(6, '0').slice(0, 6);
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  if (Number.isNaN(ms)) return undefined;
  if (tz && tz !== 'Z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
  }
  return ms * 1000 + Number(f);
}
