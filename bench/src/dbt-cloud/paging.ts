/**
 * dbt Cloud paging benchmark: list 100k runs through the emulator at 50 ms latency per request, with the
 * emulator enforcing dbt Cloud's 5,000 requests/minute, sequentially (concurrency 1) and with concurrent
 * pages (concurrency 4), in the same process run. Prints a Markdown table and, with --out, writes it.
 *
 *   node --conditions=@ferry/source bench/src/dbt-cloud/paging.ts [--runs 100000] [--latency-ms 50]
 *        [--rate-limit 5000] [--concurrency 4] [--include trigger,run_steps] [--out bench/results/dbt-cloud.md]
 *
 * The emulator runs in a child process so its JSON rendering does not share the client's event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { DbtCloudClient, type DbtCloudPageStats, type DbtCloudRequestEvent } from '@ferry/source-dbt-cloud';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    'latency-ms': { type: 'string', default: '50' },
    'rate-limit': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '4' },
    include: { type: 'string', default: ';trigger,run_steps' },
    out: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const LATENCY = Number(values['latency-ms']);
const RATE = Number(values['rate-limit']);
const CONCURRENCY = Number(values.concurrency);
// `;`-separated variants of include_related; an empty variant lists plain runs.
const VARIANTS = values.include.split(';').map((v) => v.trim());

async function startEmulatorProcess(): Promise<{
  child: ChildProcess;
  url: string;
  token: string;
  accountId: number;
}> {
  const entry = fileURLToPath(import.meta.resolve('@ferry/source-dbt-cloud/emulator'));
  const bin = path.join(path.dirname(entry), 'bin.ts');
  const child = spawn(
    process.execPath,
    [
      '--conditions=@ferry/source',
      bin,
      '--port',
      '0',
      '--runs',
      String(RUNS),
      '--in-flight',
      '0',
      '--latency-ms',
      String(LATENCY),
      '--rate-limit',
      String(RATE),
      '--seed',
      '1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { child, ...(JSON.parse(line) as { url: string; token: string; accountId: number }) };
}

interface Result {
  include: string;
  concurrency: number;
  seconds: number;
  pages: number;
  rows: number;
  duplicates: number;
  status429: number;
  retries: number;
  lowerBound: number;
}

async function measure(
  emu: { url: string; token: string; accountId: number },
  concurrency: number,
  include: string,
): Promise<Result> {
  const events: DbtCloudRequestEvent[] = [];
  const client = new DbtCloudClient({
    baseUrl: emu.url,
    accountId: emu.accountId,
    apiToken: emu.token,
    pageConcurrency: concurrency,
    onRequest: (e) => events.push(e),
  });
  const stats: DbtCloudPageStats = { pages: 0, rows: 0, duplicates: 0, minConcurrency: 0 };
  // The runs resource's first-load query: ascending finished_at over an open range.
  const query = {
    order_by: 'finished_at',
    finished_at__range: ['1970-01-01T00:00:00.000000', '9999-12-31T23:59:59.999999'],
    ...(include ? { include_related: include } : {}),
  };
  const started = performance.now();
  for await (const page of client.paginate('v2', `accounts/${emu.accountId}/runs/`, query, {}, stats))
    void page;
  const seconds = (performance.now() - started) / 1000;
  const pages = stats.pages;
  const lowerBound =
    concurrency === 1
      ? (pages * LATENCY) / 1000
      : ((1 + Math.ceil((pages - 1) / concurrency)) * LATENCY) / 1000;
  return {
    include: include || '(none)',
    concurrency,
    seconds,
    pages,
    rows: stats.rows,
    duplicates: stats.duplicates,
    status429: events.filter((e) => e.status === 429).length,
    retries: events.filter((e) => e.retryInMs !== undefined).length,
    lowerBound,
  };
}

const emu = await startEmulatorProcess();
const stopEmulator = (): void => {
  emu.child.kill('SIGTERM');
};
process.once('SIGINT', () => {
  stopEmulator();
  process.exit(130);
});
process.once('SIGTERM', () => {
  stopEmulator();
  process.exit(143);
});
const results: Result[] = [];
try {
  for (const include of VARIANTS) {
    // Unmeasured warm-up: the emulator caches finished runs' JSON, so both measured passes see the same server cost.
    await measure(emu, CONCURRENCY, include);
    for (const c of [1, CONCURRENCY]) {
      const r = await measure(emu, c, include);
      results.push(r);
      process.stderr.write(
        `include=${r.include} concurrency=${c}: ${r.seconds.toFixed(2)} s, ${r.pages} pages, ${r.rows} rows, 429s ${r.status429}\n`,
      );
    }
  }
} finally {
  stopEmulator();
}

const lines = [
  `| include_related | concurrency | wall (s) | lower bound (s) | pages | rows | duplicates | 429s | retries | speed-up vs sequential |`,
  `|---|---|---|---|---|---|---|---|---|---|`,
];
for (const r of results) {
  const seq = results.find((x) => x.include === r.include && x.concurrency === 1)!;
  lines.push(
    `| ${r.include} | ${r.concurrency} | ${r.seconds.toFixed(2)} | ${r.lowerBound.toFixed(2)} | ${r.pages} | ${r.rows} | ${r.duplicates} | ${r.status429} | ${r.retries} | ${(seq.seconds / r.seconds).toFixed(2)}× |`,
  );
}
const table = lines.join('\n');
process.stdout.write(`${table}\n`);
if (values.out) {
  const doc = `# dbt Cloud source: paging benchmark

${RUNS.toLocaleString('en-US')} runs listed from the bundled emulator (separate process) with ${LATENCY} ms latency per response
and a rate limit of ${RATE.toLocaleString('en-US')} requests/minute per token (dbt Cloud's Admin API limit), page size 100.
Sequential = concurrency 1 (one page after another). Concurrent = first page, then the remaining pages
${CONCURRENCY} at a time once \`total_count\` is known. "Lower bound" is latency × pages for sequential and
latency × (1 + ⌈(pages − 1)/${CONCURRENCY}⌉) for concurrent: the time with zero transfer and CPU cost.
The query is the runs resource's first load (\`order_by=finished_at\`, open \`finished_at__range\`).
An unmeasured warm-up pass runs first per variant (the emulator caches finished runs' JSON), so the two measured
passes pay the same server cost and the comparison isolates the client's paging strategy.

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} (shared with other sessions), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.

Command:

\`\`\`
node --conditions=@ferry/source bench/src/dbt-cloud/paging.ts --runs ${RUNS} --latency-ms ${LATENCY} --rate-limit ${RATE} --concurrency ${CONCURRENCY} --include '${values.include}' --out ${values.out}
\`\`\`

${table}

At concurrency ${CONCURRENCY} and ${LATENCY} ms per request the client cannot exceed ${CONCURRENCY} / ${LATENCY / 1000} s = ${Math.round((CONCURRENCY / (LATENCY / 1000)) * 60).toLocaleString('en-US')} requests/minute,
below the limit, so no 429 is expected; on a 429 the client halves its page concurrency and pauses every request until
\`Retry-After\` (or its own backoff) passes (see test/client.test.ts).
`;
  await writeFile(values.out, doc);
}
