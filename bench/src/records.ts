import { createWriteStream } from 'node:fs';

/**
 * Deterministic synthetic dbt-Cloud-run-like records for benchmarks: ints, 14-digit ids, timestamps in
 * the API's forms (space / T, with and without microseconds, +00:00 / Z), nullable strings (~30% null),
 * a nested object and a list of steps. mulberry32 with a fixed seed: the same rows every run.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** '00'…'99': two-digit fields without padStart. */
const P2 = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));
const DAY_MS = 86_400_000;
let cachedDay = Number.NaN;
let cachedDate = '';

/** 'YYYY-MM-DD' of a UTC day number, cached (consecutive records share the day). */
function dateOf(day: number): string {
  if (day !== cachedDay) {
    const d = new Date(day * DAY_MS);
    cachedDay = day;
    cachedDate = `${d.getUTCFullYear()}-${P2[d.getUTCMonth() + 1]}-${P2[d.getUTCDate()]}`;
  }
  return cachedDate;
}

/**
 * A timestamp in one of the API's four forms. The generator is the benchmark's source, not the thing
 * measured, so it is kept cheap: the date part is cached per day and the time built from tables.
 */
function ts(base: number, form: number): string {
  const day = Math.floor(base / DAY_MS);
  const inDay = base - day * DAY_MS;
  const secs = Math.floor(inDay / 1000);
  const micros = String(1_000_000 + (base % 1000) * 1000 + (base % 997)).slice(1);
  const date = dateOf(day);
  const time = `${P2[Math.floor(secs / 3600)]}:${P2[Math.floor(secs / 60) % 60]}:${P2[secs % 60]}`;
  switch (form) {
    case 0:
      return `${date} ${time}.${micros}+00:00`;
    case 1:
      return `${date}T${time}.${micros}+00:00`;
    case 2:
      return `${date}T${time}.${micros}Z`;
    default:
      return `${date} ${time}+00:00`;
  }
}

/** Yield `n` records in pages of `page`. */
export function* runPages(n: number, page = 1000, seed = 42): Generator<Record<string, unknown>[]> {
  const rnd = mulberry32(seed);
  const t0 = Date.UTC(2024, 0, 1);
  for (let start = 0; start < n; start += page) {
    const out: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(n, start + page); i++) {
      const created = t0 + i * 7_000 + Math.floor(rnd() * 1000);
      const form = i % 4;
      const finished =
        rnd() < 0.03 ? null : ts(created + 60_000 + Math.floor(rnd() * 600_000), (form + 1) % 4);
      out.push({
        id: 70403104190000 + i,
        account_id: 70403103999999,
        job_definition_id: 278164 + (i % 50),
        environment_id: 300000 + (i % 5),
        status: finished === null ? 3 : rnd() < 0.1 ? 20 : 10,
        in_progress: finished === null,
        created_at: ts(created, form),
        finished_at: finished,
        duration_seconds: Math.round(rnd() * 6000) / 10,
        git_branch: rnd() < 0.3 ? null : `feature/${i % 1000}`,
        git_sha: rnd() < 0.3 ? null : (i * 2654435761).toString(16).padStart(10, '0'),
        status_message: rnd() < 0.3 ? null : 'Completed successfully',
        href: rnd() < 0.3 ? null : `https://ab123.us1.dbt.com/deploy/1/runs/${i}`,
        trigger: {
          id: 900000000 + i,
          cause: rnd() < 0.5 ? 'Scheduled' : 'Triggered via API',
          schema_override: null,
        },
        run_steps: [
          { index: 1, name: 'dbt deps', status: 10 },
          { index: 2, name: 'dbt build', status: finished === null ? 3 : 10 },
        ],
      });
    }
    yield out;
  }
}

/** Write the first `n` records as JSONL to `file` (the baselines' input; done before any timing). */
export async function writeRunsJsonl(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  for (const page of runPages(n)) {
    let chunk = '';
    for (const r of page) chunk += `${JSON.stringify(r)}\n`;
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise<void>((r) => out.end(r));
}
