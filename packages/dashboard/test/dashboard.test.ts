import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { startDashboard } from '@ferry/dashboard';
import { buildDemo, XSS_JOB_NAME, type Demo } from './demo.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
const SCREENSHOTS = fileURLToPath(new URL('../test-results/screenshots/', import.meta.url));

let demo: Demo;
let rowCounts: Record<string, number>;
let loads: { loadId: string }[];

const auth = () => ({ Authorization: `Bearer ${demo.token}` });

async function getJson<T = any>(p: string): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(p, demo.url), { headers: auth() });
  return { status: res.status, body: (await res.json()) as T };
}

async function postSql(sql: string): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL('/api/sql', demo.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...auth() },
    body: JSON.stringify({ sql }),
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  demo = await buildDemo();
  const ds = demo.pipeline.dataset();
  try {
    rowCounts = await ds.rowCounts();
    loads = await ds.loads();
  } finally {
    await ds.close();
  }
});

afterAll(async () => {
  await demo?.close();
});

describe('dashboard API', () => {
  it('overview: row counts equal rowCounts(), loads with rows per table, state, schema version, last run timings', async () => {
    const { status, body } = await getJson('/api/overview');
    expect(status).toBe(200);
    expect(body.rowCounts).toEqual(rowCounts);
    expect(Object.fromEntries(body.tables.map((t: any) => [t.name, t.rows]))).toEqual(rowCounts);
    expect(body.tables.find((t: any) => t.name === 'runs__run_steps').parent).toBe('runs');
    expect(body.pipeline).toEqual({ name: 'dbt_demo', dataset: 'dbt_cloud', destinationType: 'duckdb' });
    expect(body.loads.map((l: any) => l.loadId)).toEqual(loads.map((l) => l.loadId));
    expect(body.loads).toHaveLength(2);
    // Every current row belongs to exactly one load, children through their root row.
    for (const table of ['runs', 'runs__run_steps', 'jobs', 'jobs__execute_steps']) {
      const sum = body.loads.reduce((n: number, l: any) => n + (l.rows[table] ?? 0), 0);
      expect(sum, table).toBe(rowCounts[table]);
    }
    expect(body.loads[0].rows.runs).toBeGreaterThanOrEqual(25); // the second load re-read the new runs
    expect(body.schemas).toEqual([
      expect.objectContaining({
        name: 'dbt_cloud',
        version: expect.any(Number),
        versionHash: expect.any(String),
      }),
    ]);
    const runsState = body.state.extras.find((x: any) => x.resource === 'runs');
    const ds = demo.pipeline.dataset();
    const state = await ds.state();
    await ds.close();
    expect(runsState.extras).toEqual(state!.sources.dbt_cloud!.resources.runs!.extras);
    expect(body.state.lastLoadId).toBe(loads[0]!.loadId);
    expect(body.lastRun.loadIds).toEqual(demo.runs[1]!.loadIds);
    for (const stage of ['sync', 'extract', 'normalize', 'load', 'total'])
      expect(body.lastRun.timings[stage], stage).toBeGreaterThan(0);
    expect(body.lastRun).not.toHaveProperty('destination');
  });

  it('schema: every table with columns and types, and the parent → child tree', async () => {
    const { status, body } = await getJson('/api/schema');
    expect(status).toBe(200);
    const tables = body.schemas[0].tables;
    expect(tables.map((t: any) => t.name).sort()).toEqual(Object.keys(rowCounts).sort());
    const runs = tables.find((t: any) => t.name === 'runs');
    expect(runs.columns.find((c: any) => c.name === 'id')).toMatchObject({
      dataType: 'bigint',
      primaryKey: true,
    });
    expect(runs.columns.find((c: any) => c.name === 'finished_at').dataType).toBe('timestamp');
    expect(tables.find((t: any) => t.name === 'runs__run_steps').parent).toBe('runs');
  });

  it('tables: paged rows in schema column order, exact bigints as strings, timestamps as ISO', async () => {
    const first = await getJson('/api/tables/runs?offset=0&limit=10');
    expect(first.status).toBe(200);
    expect(first.body.rows).toHaveLength(10);
    expect(first.body.total).toBe(rowCounts.runs);
    const idIdx = first.body.columns.findIndex((c: any) => c.name === '_ferry_id');
    const second = await getJson('/api/tables/runs?offset=10&limit=10');
    const ids = new Set(first.body.rows.map((r: any[]) => r[idIdx]));
    for (const r of second.body.rows) expect(ids.has(r[idIdx])).toBe(false);
    const createdIdx = first.body.columns.findIndex((c: any) => c.name === 'created_at');
    expect(first.body.rows[0][createdIdx]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const big = await getJson('/api/tables/runs?limit=100000');
    expect(big.body.rows).toHaveLength(500); // capped
    const missing = await getJson('/api/tables/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatch(/table 'nope' is not in dataset/);
  });

  it('sql: runs a read-only query, caps rows at 1,000, answers errors as messages without stacks', async () => {
    const ok = await postSql('select count(*) as n from dbt_cloud.runs');
    expect(ok.status).toBe(200);
    expect(ok.body.columns).toEqual(['n']);
    expect(Number(ok.body.rows[0][0])).toBe(rowCounts.runs);
    const capped = await postSql('select * from dbt_cloud.runs__run_steps');
    expect(capped.body.rows).toHaveLength(1000);
    expect(capped.body.truncated).toBe(true);
    const bad = await postSql('select * from dbt_cloud.no_such_table');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/no_such_table/);
    expect(bad.body.error).not.toMatch(/\n\s+at /);
  });

  it('charts: runs per day by status and p50/p95 duration per job, job names from the jobs table', async () => {
    const { status, body } = await getJson('/api/charts/dbt-runs');
    expect(status).toBe(200);
    expect(body.available).toBe(true);
    expect(body.runsPerDay.days.length).toBeGreaterThanOrEqual(3);
    const total = body.runsPerDay.series.reduce(
      (n: number, s: any) => n + s.counts.reduce((a: number, b: number) => a + b, 0),
      0,
    );
    expect(total).toBe(rowCounts.runs);
    expect(body.runsPerDay.series.map((s: any) => s.status)).toEqual(
      expect.arrayContaining(['Success', 'Error']),
    );
    expect(body.durations.jobs).toHaveLength(6);
    expect(body.durations.jobs.map((j: any) => j.name)).toContain(XSS_JOB_NAME);
    for (const j of body.durations.jobs) {
      j.p50.forEach((v: number | null, i: number) => {
        if (v !== null) expect(v).toBeLessThanOrEqual(j.p95[i]);
      });
    }
  });
});

describe('a pipeline that has not run yet', () => {
  it('answers with what to do instead of failing', async () => {
    const p = pipeline({
      name: 'never_ran',
      destination: duckdb({ path: path.join(demo.dir, 'never.duckdb') }),
      dataDir: path.join(demo.dir, 'never'),
    });
    const d = await startDashboard({ pipeline: p });
    try {
      const res = await fetch(new URL('/api/overview', d.url), {
        headers: { Authorization: `Bearer ${d.token}` },
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /does not exist yet: run the pipeline first/,
      );
      expect((await fetch(d.url)).status).toBe(200);
    } finally {
      await d.close();
    }
  });
});

describe('dashboard in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `browser tests need Debian's chromium at ${CHROMIUM}${process.env.CI === 'true' ? ' (CI=true)' : ''}: install it with ` +
          '`apt-get update && apt-get install -y chromium` and run the tests again',
      );
    }
    await mkdir(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function open(hash: string, pageName: string): Promise<void> {
    // The printed URL (with ?token=…) and the page's route; the page keeps the token for its API calls.
    await page.goto(`${demo.url}${hash}`);
    await page.waitForSelector(`main[data-page="${pageName}"][aria-busy="false"]`);
  }

  const shot = (name: string) =>
    page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

  it('overview shows the same row counts as rowCounts()', async () => {
    await open('#/overview', 'overview');
    const shown = await page.$$eval('#row-counts tr[data-table]', (rows) =>
      rows.map(
        (r) =>
          [
            r.getAttribute('data-table'),
            Number(r.querySelector('td[data-rows]')?.getAttribute('data-rows')),
          ] as const,
      ),
    );
    expect(Object.fromEntries(shown)).toEqual(rowCounts);
    const visibleText = await page.textContent('#row-counts tr[data-table="runs"] td.num');
    expect(visibleText).toBe(rowCounts.runs!.toLocaleString('en-US'));
    expect(await page.textContent('#last-run')).toMatch(/normalize/);
    expect(await page.textContent('#state')).toMatch(/lastFinishedAt/);
    await shot('overview');
  });

  it('schema page shows the table tree and columns', async () => {
    await open('#/schema', 'schema');
    expect(
      await page
        .locator('#table-tree > ul > li', { hasText: 'runs' })
        .locator('ul a', { hasText: 'runs__run_steps' })
        .count(),
    ).toBe(1);
    expect(await page.textContent('#table-runs')).toMatch(/finished_at\s*timestamp/);
    await shot('schema');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'schema-top.png') }); // the tree, readable at a glance
  });

  it('data page shows rows, pages, and renders a hostile job name as text', async () => {
    await open('#/data/jobs', 'data');
    expect(await page.locator('#data-grid tbody tr').count()).toBe(rowCounts.jobs);
    const cell = page.locator('#data-grid td', { hasText: XSS_JOB_NAME });
    expect(await cell.count()).toBe(1);
    expect(await cell.textContent()).toBe(XSS_JOB_NAME);
    expect(await page.locator('main img').count()).toBe(0);
    await open('#/data/runs', 'data');
    expect(await page.locator('#data-grid tbody tr').count()).toBe(50);
    await shot('data');
    await page.click('#next-page');
    await page.waitForFunction(() =>
      document.getElementById('page-info')?.textContent?.startsWith('rows 51–100'),
    );
    expect(await page.locator('#data-grid tbody tr').count()).toBe(50);
  });

  it('SQL box runs a query and shows a refusal as a message', async () => {
    await open('#/sql', 'sql');
    await page.fill(
      '#sql-text',
      'select status, count(*) as n from dbt_cloud.runs group by status order by status',
    );
    await page.click('#run-sql');
    await page.waitForSelector('#sql-summary');
    const cells = await page.$$eval('#sql-result tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(cells.reduce((n, r) => n + Number(r[1]), 0)).toBe(rowCounts.runs);
    await shot('sql');
    const before = problems.length;
    await page.fill('#sql-text', 'drop table dbt_cloud.runs');
    await page.click('#run-sql');
    await page.waitForSelector('#sql-result .error');
    expect(await page.textContent('#sql-result .error')).toMatch(/'DROP' is not/);
    // The refusal is a 400 answer, which Chromium logs; it is the only expected console error.
    expect(problems.splice(before)).toEqual([expect.stringMatching(/status of 400/)]);
    await shot('sql-refused');
  });

  it('charts render with data points through Chart.js', async () => {
    await open('#/charts', 'charts');
    const points = await page.evaluate(() => {
      const chart = (window as any).Chart;
      const count = (id: string) => {
        const c = chart.getChart(document.getElementById(id));
        return {
          datasets: c.data.datasets.length,
          first: c.data.datasets[0].data.length,
          labels: c.data.labels.length,
          total: c.data.datasets
            .flatMap((d: any) => d.data)
            .filter((v: unknown) => typeof v === 'number')
            .reduce((a: number, b: number) => a + b, 0),
        };
      };
      return { perDay: count('chart-runs-per-day'), durations: count('chart-durations') };
    });
    expect(points.perDay.first).toBeGreaterThan(0);
    expect(points.perDay.total).toBe(rowCounts.runs);
    expect(points.durations.first).toBeGreaterThan(0);
    expect(points.durations.datasets).toBe(12); // p50 and p95 for six jobs
    expect(await page.locator('#job-list td', { hasText: XSS_JOB_NAME }).count()).toBe(1);
    expect(await page.locator('main img').count()).toBe(0);
    await shot('charts');
  });

  it('fired no dialog, no script error and no CSP violation on any page', () => {
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
  });
});
