import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError, resource, source, type DataItem } from '@ferry/core';
import { useTarget, type CaseEnv } from './harness.ts';
import { runs, runRecord, staticSource } from './fixtures.ts';
import { selectedTargets } from './targets/index.ts';

const CHILD = path.join(import.meta.dirname, 'crash-child.ts');

for (const target of selectedTargets()) {
  describe(`conformance: ${target.name}`, () => {
    /** Run a case body in a fresh place; tear down even on failure. */
    const withCase = useTarget(target);
    const supportsMerge = async (env: CaseEnv) => env.destination.capabilities.mergeStrategies.length > 0;

    it('append: a second run adds rows to the root and child tables', () =>
      withCase('append', async (env) => {
        const p = await env.pipeline();
        const first = await p.run(staticSource(runs(250)));
        expect(first.rowCounts).toEqual({ runs: 250, runs__run_steps: 500 });
        await p.run(staticSource(runs(100, 250)));
        expect(await env.count('runs')).toBe(350);
        expect(await env.count('runs__run_steps')).toBe(700);
        const [row] = await env.rows(
          (t) => `SELECT id, trigger__cause, git_branch FROM ${t('runs')} WHERE id = 70403104190001`,
        );
        expect(BigInt(row!.id as number)).toBe(70403104190001n);
        expect(row!.trigger__cause).toBe('cause 1');
      }));

    it('replace: the table chain holds exactly the last run, also when it is empty', () =>
      withCase('replace', async (env) => {
        const p = await env.pipeline();
        await p.run(staticSource(runs(30), { writeDisposition: 'replace' }));
        await p.run(
          staticSource(
            runs(5, 100).map((r) => ({ ...r, run_steps: [{ index: 1, name: 'only', status: 10 }] })),
            { writeDisposition: 'replace' },
          ),
        );
        expect(await env.count('runs')).toBe(5);
        expect(await env.count('runs__run_steps')).toBe(5);
        await p.run(staticSource([], { writeDisposition: 'replace' }));
        expect(await env.count('runs')).toBe(0);
        expect(await env.count('runs__run_steps')).toBe(0);
      }));

    for (const strategy of ['delete-insert', 'upsert'] as const) {
      it(`merge (${strategy}): updates rows and their child tables, last duplicate in a load wins`, () =>
        withCase(`merge_${strategy}`, async (env) => {
          if (!(await supportsMerge(env))) {
            const p = await env.pipeline();
            await expect(
              p.run(
                staticSource(runs(3), {
                  writeDisposition: 'merge',
                  primaryKey: 'id',
                  mergeStrategy: strategy,
                }),
              ),
            ).rejects.toThrow(/merge/);
            return;
          }
          const opts = { writeDisposition: 'merge' as const, primaryKey: 'id', mergeStrategy: strategy };
          const p = await env.pipeline();
          await p.run(staticSource(runs(3), opts));
          expect(await env.count('runs')).toBe(3);
          expect(await env.count('runs__run_steps')).toBe(6);
          const second: DataItem[] = [
            runRecord(1, { git_branch: 'first', run_steps: [{ index: 9, name: 'x', status: 10 }] }),
            runRecord(3),
            runRecord(1, { git_branch: 'second', run_steps: [{ index: 7, name: 'replaced', status: 30 }] }),
          ];
          await p.run(staticSource(second, opts));
          expect(await env.count('runs')).toBe(4);
          const rows = await env.rows((t) => `SELECT id, git_branch FROM ${t('runs')} ORDER BY id`);
          expect(rows.map((r) => [BigInt(r.id as number), r.git_branch])).toEqual([
            [70403104190000n, null],
            [70403104190001n, 'second'],
            [70403104190002n, 'feature/2'],
            [70403104190003n, 'feature/3'],
          ]);
          const steps = await env.rows(
            (t) =>
              `SELECT s.name AS name FROM ${t('runs__run_steps')} s JOIN ${t('runs')} r ON s._ferry_parent_id = r._ferry_id WHERE r.id = 70403104190001`,
          );
          expect(steps.map((s) => s.name)).toEqual(['replaced']);
          expect(await env.count('runs__run_steps')).toBe(2 + 2 + 2 + 1);
          const dupes = await env.rows(
            (t) => `SELECT id, COUNT(*) AS n FROM ${t('runs')} GROUP BY id HAVING COUNT(*) > 1`,
          );
          expect(dupes).toEqual([]);
        }));
    }

    it('schema evolution: a new column on the second run, old rows read null', () =>
      withCase('evolve', async (env) => {
        const p = await env.pipeline();
        await p.run(staticSource(runs(3)));
        const info = await p.run(staticSource(runs(2, 3).map((r) => ({ ...r, new_field: 'hello' }))));
        expect(info.schemaChanges.find((c) => c.table === 'runs')?.newColumns).toEqual({ new_field: 'text' });
        const rows = await env.rows((t) => `SELECT new_field FROM ${t('runs')} ORDER BY id`);
        expect(rows.map((r) => r.new_field)).toEqual([null, null, null, 'hello', 'hello']);
      }));

    it('type conflict: bigint widens to double; an uncoercible value goes to a variant column', () =>
      withCase('types', async (env) => {
        const p = await env.pipeline();
        await p.run(staticSource([{ id: 1, amount: 10 }]));
        await p.run(staticSource([{ id: 2, amount: 2.5 }]));
        await p.run(staticSource([{ id: 3, amount: 'not a number' }]));
        if (env.destination.capabilities.supportsAlterColumnType) {
          const rows = await env.rows(
            (t) => `SELECT id, amount, amount__v_text FROM ${t('runs')} ORDER BY id`,
          );
          expect(
            rows.map((r) => [Number(r.id), r.amount === null ? null : Number(r.amount), r.amount__v_text]),
          ).toEqual([
            [1, 10, null],
            [2, 2.5, null],
            [3, null, 'not a number'],
          ]);
        } else {
          // No in-place ALTER: the double goes to a variant column instead of widening.
          const rows = await env.rows(
            (t) => `SELECT id, amount, amount__v_double, amount__v_text FROM ${t('runs')} ORDER BY id`,
          );
          expect(
            rows.map((r) => [
              Number(r.id),
              r.amount === null ? null : Number(r.amount),
              r.amount__v_double === null ? null : Number(r.amount__v_double),
              r.amount__v_text,
            ]),
          ).toEqual([
            [1, 10, null, null],
            [2, null, 2.5, null],
            [3, null, null, 'not a number'],
          ]);
        }
      }));

    it('state round trip: a fresh dataDir resumes the incremental cursor from the destination', () =>
      withCase('state', async (env) => {
        const all = runs(7).map((r, i) => ({ ...r, updated_at: `2024-01-0${i + 1}T00:00:00.000001Z` }));
        let served = 5;
        const make = () =>
          source({
            name: 'conformance',
            resources: [
              resource(
                {
                  name: 'runs',
                  // Destinations without merge keep the same flow with append (the cursor makes it exact).
                  ...(env.destination.capabilities.mergeStrategies.length > 0
                    ? { writeDisposition: 'merge' as const, primaryKey: 'id' }
                    : {}),
                  incremental: { cursorPath: 'updated_at', rowOrder: 'asc', primaryKey: 'id' },
                },
                function* () {
                  yield all.slice(0, served);
                },
              ),
            ],
          });
        const p1 = await env.pipeline();
        expect((await p1.run(make())).rowCounts.runs).toBe(5);
        served = 7;
        const fresh = await env.pipeline({ dataDir: await env.newDataDir() });
        const info = await fresh.run(make());
        expect(info.rowCounts.runs).toBe(2);
        expect(await env.count('runs')).toBe(7);
        const state = await fresh.state();
        const cursor = state.sources.conformance?.resources.runs?.incremental?.updated_at;
        expect(cursor?.lastValue).toBe('2024-01-07T00:00:00.000001Z');
        expect(cursor?.boundaryHashes?.length).toBe(1);
        const again = await (await env.pipeline({ dataDir: await env.newDataDir() })).run(make());
        expect(again.empty).toBe(true);
      }));

    // DuckDB is its own lock (one writer process per file); every other destination holds one at the destination.
    if (!target.name.startsWith('duckdb'))
      it('one run at a time: a second working folder gets PIPELINE_BUSY while the first holds the destination lock', () =>
        withCase('lock', async (env) => {
          const a = await env.pipeline();
          await a.syncFromDestination(); // connected: holds the destination's lock until close()
          const b = await env.pipeline({ dataDir: await env.newDataDir() });
          const error = (await b.run(staticSource(runs(5))).catch((e: unknown) => e)) as Error;
          expect(error).toMatchObject({ code: 'PIPELINE_BUSY' });
          expect(error.message).toContain(`pipeline '${env.name}' is already loading into`);
          await a.close();
          expect((await b.run(staticSource(runs(5)))).rowCounts.runs).toBe(5);
          // run() gives the lock back when it ends: the first folder loads again at once.
          expect((await a.run(staticSource(runs(3, 5)))).rowCounts.runs).toBe(3);
          expect(await env.count('runs')).toBe(8);
        }));

    it('the dataset dropped at the destination: the next run loads from the start, not from the stale local cursor', () =>
      withCase('dropped', async (env) => {
        const make = () =>
          source({
            name: 'conformance',
            resources: [
              resource({ name: 'runs', incremental: { cursorPath: 'id' } }, function* () {
                yield runs(5);
              }),
            ],
          });
        const p = await env.pipeline();
        expect((await p.run(make())).rowCounts.runs).toBe(5);
        await env.withClient((c) => c.dropDataset());
        const again = await p.run(make());
        expect(again.rowCounts.runs).toBe(5);
        expect(await env.count('runs')).toBe(5);
      }));

    it('bad input: a non-object record and a missing cursor fail clearly; loaded data stays', () =>
      withCase('bad_input', async (env) => {
        const p = await env.pipeline();
        await p.run(staticSource(runs(3)));
        const bad = source({
          name: 'conformance',
          resources: [
            resource({ name: 'runs' }, function* () {
              yield [runRecord(10), 42 as unknown as DataItem];
            }),
          ],
        });
        await expect(p.run(bad)).rejects.toThrow(/resource 'runs' yielded item 1 that is not a plain object/);
        const noCursor = source({
          name: 'conformance',
          resources: [
            resource({ name: 'runs', incremental: { cursorPath: 'updated_at' } }, function* () {
              yield [runRecord(11)];
            }),
          ],
        });
        const error = await p.run(noCursor).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DataError);
        expect((error as Error).message).toMatch(/item 0 has no value at cursor path 'updated_at'/);
        expect(await env.count('runs')).toBe(3);
        expect(await p.hasPending()).toBe(false);
        await p.run(staticSource(runs(1, 20)));
        expect(await env.count('runs')).toBe(4);
      }));

    it('hostile names: SQL in a column name, 300 characters and unicode become safe identifiers', () =>
      withCase('names', async (env) => {
        const long = 'x'.repeat(300);
        const record = {
          id: 1,
          'x"; drop table y; --': 'sql',
          [long]: 'long',
          café: 'accent',
          名前: 'kanji',
          'Ünïcödé Field': 'mixed',
        };
        const p = await env.pipeline();
        const info = await p.run(staticSource([record]));
        const cols = Object.keys(info.schemaChanges.find((c) => c.table === 'runs')!.newColumns);
        for (const c of cols) {
          expect(c).toMatch(/^[a-z0-9_]+$/);
          expect(c.length).toBeLessThanOrEqual(env.destination.capabilities.maxIdentifierLength);
        }
        expect(new Set(cols).size).toBe(cols.length);
        const rows = await env.rows((t) => `SELECT * FROM ${t('runs')}`);
        expect(Object.values(rows[0]!)).toEqual(
          expect.arrayContaining(['sql', 'long', 'accent', 'kanji', 'mixed']),
        );
        expect(await env.count('runs')).toBe(1);
      }));

    it('dataset API: tables, typed rows, where/orderBy/limit, iterate, arrow, sql, row counts, loads, state', () =>
      withCase('dataset', async (env) => {
        const p = await env.pipeline();
        const records = runs(25).map((r, i) => ({
          ...r,
          cost: i + 0.5,
          payload: i === 0 ? { nested: [1, 2] } : null,
        }));
        await p.run(
          source({
            name: 'conformance',
            resources: [
              resource(
                {
                  name: 'runs',
                  maxTableNesting: 1,
                  columns: { payload: { dataType: 'json' } },
                  incremental: { cursorPath: 'id' },
                },
                function* () {
                  yield records;
                },
              ),
            ],
          }),
        );
        const ds = p.dataset();
        try {
          expect(await ds.tables()).toEqual(['runs', 'runs__run_steps']);
          expect(await ds.rowCounts()).toEqual({ runs: 25, runs__run_steps: 50 });
          const rows = await ds
            .table('runs')
            .select('id', 'created_at', 'git_branch', 'cost', 'payload')
            .where('id', '>=', 70403104190020)
            .orderBy('id', 'desc')
            .limit(2)
            .toArray();
          expect(rows.map((r) => r.id)).toEqual([70403104190024n, 70403104190023n]);
          expect(rows[0]!.created_at).toEqual(new Date('2024-03-25T13:47:24.129Z'));
          expect(rows[0]!.cost).toBe(24.5);
          const first = await ds.table('runs').where('id', '=', 70403104190000).toArray();
          expect(first[0]!.payload).toEqual({ nested: [1, 2] });
          expect(first[0]!.id).toBe(70403104190000n);
          let seen = 0;
          for await (const batch of ds.table('runs__run_steps').iterate({ batchSize: 7 })) {
            expect(batch.length).toBeLessThanOrEqual(7);
            seen += batch.length;
          }
          expect(seen).toBe(50);
          const arrow = await ds.table('runs').select('id', 'status').orderBy('id').toArrow();
          expect(arrow.numRows).toBe(25);
          expect(arrow.getChild('id')!.get(0)).toBe(70403104190000n);
          const agg = await ds.sql(
            `SELECT COUNT(*) AS n FROM ${(await ds.reader()).qualifiedTable('runs')} WHERE status = $1`,
            [20],
          );
          expect(Number(agg[0]!.n)).toBe(5);
          await expect(ds.sql(`DROP TABLE ${(await ds.reader()).qualifiedTable('runs')}`)).rejects.toThrow(
            /read-only/,
          );
          await expect(ds.sql('SELECT 1; SELECT 2')).rejects.toThrow(/one statement/);
          const loads = await ds.loads();
          expect(loads).toHaveLength(1);
          expect(loads[0]!.insertedAt).toBeInstanceOf(Date);
          const state = await ds.state();
          expect(state?.sources.conformance?.resources.runs?.incremental?.id?.lastValue).toBe(70403104190024);
          expect((await ds.schema())?.tables.runs?.columns.payload?.dataType).toBe('json');
        } finally {
          await ds.close();
        }
      }));

    // normalize-workers: 25,000 rows in raw files of 5,000, normalized by two worker threads while extract
    // runs (the overlapped path of run()); killed at the first rows a worker reports.
    const CRASH_POINTS = [
      'extract',
      'normalize',
      'normalize-workers',
      'between-jobs',
      'before-commit',
      'after-commit',
    ] as const;
    it.each(CRASH_POINTS)(
      'crash at %s (SIGKILL), then rerun: exact rows, no duplicates',
      (point) =>
        withCase(`crash_${point.replaceAll('-', '_')}`, async (env) => {
          const n = point === 'normalize-workers' ? 25_000 : 5000;
          const dataDir = await env.newDataDir();
          const childEnv = {
            ...process.env,
            DEST_CONFIG: JSON.stringify(env.config),
            DATASET: env.dataset,
            PIPELINE_NAME: env.name,
            DATA_DIR: dataDir,
            ROWS: String(n),
          };
          const runChild = (crash: string | undefined) =>
            new Promise<{ code: number | null; signal: string | null; out: string; err: string }>(
              (resolve) => {
                const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
                  env: { ...childEnv, CRASH_AT: crash ?? '' },
                });
                let out = '';
                let err = '';
                child.stdout.on('data', (d: Buffer) => (out += d.toString()));
                child.stderr.on('data', (d: Buffer) => (err += d.toString()));
                child.on('close', (code, signal) => resolve({ code, signal, out, err }));
              },
            );
          const crashed = await runChild(point);
          expect(crashed.signal, crashed.err).toBe('SIGKILL');
          const rerun = await runChild(undefined);
          expect(rerun.code, rerun.err).toBe(0);
          expect(await env.count('runs')).toBe(n);
          expect(await env.count('runs__run_steps')).toBe(2 * n);
          const distinct = await env.rows((t) => `SELECT COUNT(DISTINCT id) AS n FROM ${t('runs')}`);
          expect(Number(distinct[0]!.n)).toBe(n);
          const loads = await env.rows((t) => `SELECT COUNT(*) AS n FROM ${t('_ferry_loads')}`);
          expect(Number(loads[0]!.n)).toBe(1);
        }),
      120_000,
    );
  });
}
