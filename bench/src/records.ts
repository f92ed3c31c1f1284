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

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function ts(base: number, form: number): string {
  const d = new Date(base);
  const micros = pad((base % 1000) * 1000 + (base % 997), 6);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
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
