/**
 * Chart data for dbt Cloud runs, computed from plain rows so the SQL stays portable (no
 * `percentile_cont`, no date functions beyond `CAST(... AS DATE)`).
 */

/** dbt Cloud run status codes → the label the charts use. Queued, starting and running share one. */
export const RUN_STATUS_LABELS: Record<number, string> = {
  1: 'In progress',
  2: 'In progress',
  3: 'In progress',
  10: 'Success',
  20: 'Error',
  30: 'Cancelled',
};

/** Status order in the stacked chart (success at the bottom). */
const STATUS_ORDER = ['Success', 'Error', 'Cancelled', 'In progress'];

/** Runs per day, stacked by status. */
export interface RunsPerDay {
  /** Days `YYYY-MM-DD` (UTC), ascending, every day between the first and the last. */
  days: string[];
  /** One series per status, counts aligned to `days`. */
  series: { status: string; counts: number[] }[];
}

/** p50 and p95 run duration (seconds) per job per day. */
export interface DurationsPerJob {
  /** Days `YYYY-MM-DD` (UTC), ascending, every day between the first and the last. */
  days: string[];
  /** One entry per job; null where the job had no finished run that day. */
  jobs: { jobId: string; name: string; runs: number; p50: (number | null)[]; p95: (number | null)[] }[];
}

/**
 * Percentile by linear interpolation between closest ranks (the same as `percentile_cont`), `p` in 0..1.
 * Returns null for an empty list.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(1, Math.max(0, p)) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** `YYYY-MM-DD` of a date-ish value (a Date, an ISO string or a DuckDB date string), UTC. */
export function toDay(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString().slice(0, 10);
  const s = String(value);
  return /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : null;
}

/** Milliseconds since the epoch of a timestamp-ish value, or null. */
export function toMillis(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  if (typeof value === 'number') return value;
  const ms = Date.parse(String(value).replace(' ', 'T'));
  return Number.isNaN(ms) ? null : ms;
}

/** Every day from `first` to `last` inclusive (so gaps show as zero, not as a shorter axis). Capped at 3,660 days. */
export function dayRange(first: string, last: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${last}T00:00:00Z`);
  for (let t = Date.parse(`${first}T00:00:00Z`); t <= end && out.length < 3660; t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** Build the runs-per-day series from `(day, status, n)` rows (the result of a `GROUP BY`). */
export function runsPerDay(rows: readonly { day: unknown; status: unknown; n: unknown }[]): RunsPerDay {
  const counts = new Map<string, Map<string, number>>();
  const seenDays: string[] = [];
  for (const r of rows) {
    const day = toDay(r.day);
    if (!day) continue;
    seenDays.push(day);
    const label = RUN_STATUS_LABELS[Number(r.status)] ?? `Status ${String(r.status)}`;
    const byDay = counts.get(label) ?? new Map<string, number>();
    byDay.set(day, (byDay.get(day) ?? 0) + Number(r.n));
    counts.set(label, byDay);
  }
  seenDays.sort();
  const days = seenDays.length > 0 ? dayRange(seenDays[0]!, seenDays[seenDays.length - 1]!) : [];
  const labels = [...counts.keys()].sort((a, b) => rankOf(a) - rankOf(b) || a.localeCompare(b));
  return {
    days,
    series: labels.map((status) => ({ status, counts: days.map((d) => counts.get(status)?.get(d) ?? 0) })),
  };
}

function rankOf(label: string): number {
  const i = STATUS_ORDER.indexOf(label);
  return i === -1 ? STATUS_ORDER.length : i;
}

/**
 * Build p50/p95 run duration per job per day from finished runs. Duration is `finished_at − started_at`
 * (execution time; queueing is excluded), falling back to `created_at` when a run never started.
 * Jobs are named from `jobNames` (the `jobs` table) when present, else `job <id>`.
 */
export function durationsPerJob(
  rows: readonly { job_id: unknown; created_at: unknown; started_at: unknown; finished_at: unknown }[],
  jobNames: ReadonlyMap<string, string> = new Map(),
): DurationsPerJob {
  const byJob = new Map<string, Map<string, number[]>>();
  const seenDays: string[] = [];
  for (const r of rows) {
    const end = toMillis(r.finished_at);
    const start = toMillis(r.started_at) ?? toMillis(r.created_at);
    const day = toDay(r.finished_at instanceof Date ? r.finished_at : end === null ? null : new Date(end));
    if (end === null || start === null || day === null || r.job_id === null || r.job_id === undefined)
      continue;
    const job = String(r.job_id);
    seenDays.push(day);
    const days = byJob.get(job) ?? new Map<string, number[]>();
    const list = days.get(day) ?? [];
    list.push(Math.max(0, (end - start) / 1000));
    days.set(day, list);
    byJob.set(job, days);
  }
  seenDays.sort();
  const days = seenDays.length > 0 ? dayRange(seenDays[0]!, seenDays[seenDays.length - 1]!) : [];
  const jobs = [...byJob.entries()]
    .map(([jobId, perDay]) => ({
      jobId,
      name: jobNames.get(jobId) ?? `job ${jobId}`,
      runs: [...perDay.values()].reduce((n, l) => n + l.length, 0),
      p50: days.map((d) => round(percentile(perDay.get(d) ?? [], 0.5))),
      p95: days.map((d) => round(percentile(perDay.get(d) ?? [], 0.95))),
    }))
    .sort((a, b) => b.runs - a.runs || a.jobId.localeCompare(b.jobId));
  // Two projects often both have a "Nightly build": the legend must still tell them apart.
  const seen = new Map<string, number>();
  for (const j of jobs) seen.set(j.name, (seen.get(j.name) ?? 0) + 1);
  for (const j of jobs) if ((seen.get(j.name) ?? 0) > 1) j.name = `${j.name} (${j.jobId})`;
  return { days, jobs };
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10) / 10;
}
