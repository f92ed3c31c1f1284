/**
 * Live Snowflake: runs only when SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_DATABASE and
 * SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY) are set, and is reported skipped otherwise. With them
 * set, `DESTINATIONS=snowflake pnpm --filter @ferry/destinations exec vitest run test/conformance` runs the
 * whole conformance suite against the account too (targets/snowflake.target.ts).
 */
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipeline, resource, source } from '@ferry/core';
import { createDestination } from '@ferry/destinations';
import { liveConfig } from '../conformance/targets/snowflake.target.ts';

const live = liveConfig();

describe('snowflake (live account)', () => {
  it.skipIf(!live)(
    'a pipeline run appends, merges and reads back through the real service',
    async () => {
      const destination = await createDestination(live!);
      const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-sf-live-'));
      const name = `ferry_live_${process.pid}_${Date.now().toString(36)}`;
      const make = (rows: Record<string, unknown>[]) =>
        source({
          name: 'live',
          resources: [
            resource({ name: 'runs', writeDisposition: 'merge', primaryKey: 'id' }, function* () {
              yield rows;
            }),
          ],
        });
      const p = pipeline({ name, destination, dataDir });
      const client = await destination.connect({ dataset: p.destinationDataset, pipelineName: name });
      try {
        await p.run(
          make([
            { id: 1, v: 'a', steps: [{ n: 1 }] },
            { id: 2, v: 'b', steps: [] },
          ]),
        );
        await p.run(make([{ id: 2, v: 'c', steps: [{ n: 2 }] }]));
        const rows = await client.reader!.query(
          `SELECT id, v FROM ${client.reader!.qualifiedTable('runs')} ORDER BY id`,
        );
        expect(rows).toEqual([
          { id: 1, v: 'a' },
          { id: 2, v: 'c' },
        ]);
        expect(await client.isLoadCommitted((await p.lastRun())!.loadIds[0]!)).toBe(true);
      } finally {
        await client.dropDataset().catch(() => undefined);
        await client.close();
        await p.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
