/**
 * Live BigQuery: runs only when `BIGQUERY_PROJECT` and credentials (`BIGQUERY_CREDENTIALS`, a key path
 * or JSON, or `GOOGLE_APPLICATION_CREDENTIALS`) are set; otherwise it reports itself skipped. The full
 * conformance suite runs live through the `bigquery` target under the same condition
 * (`DESTINATIONS=bigquery`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipeline, resource, source } from '@ferry/core';
import { bigquery } from '@ferry/destinations/bigquery';

const project = process.env.BIGQUERY_PROJECT;
const credentials = process.env.BIGQUERY_CREDENTIALS ?? process.env.GOOGLE_APPLICATION_CREDENTIALS;
const live = Boolean(project && credentials);

describe('bigquery live', () => {
  it.skipIf(!live)(
    live
      ? 'a pipeline run lands rows, state and the marker in BigQuery'
      : 'skipped: set BIGQUERY_* to run live',
    async () => {
      const destination = bigquery({
        projectId: project!,
        ...(process.env.BIGQUERY_CREDENTIALS ? { credentials: process.env.BIGQUERY_CREDENTIALS } : {}),
      });
      const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-bq-live-'));
      const dataset = `ferry_live_${Date.now().toString(36)}`;
      const p = pipeline({ name: dataset, dataset, destination, dataDir });
      const src = source({
        name: 'live',
        resources: [
          resource({ name: 'items', primaryKey: 'id', writeDisposition: 'merge' }, function* () {
            yield [
              { id: 1, tags: ['a', 'b'] },
              { id: 2, tags: [] },
            ];
          }),
        ],
      });
      try {
        await p.run(src);
        await p.run(src);
        const client = await destination.connect({ dataset, pipelineName: dataset });
        try {
          expect(
            await client.reader!.query(`SELECT COUNT(*) AS n FROM ${client.reader!.qualifiedTable('items')}`),
          ).toEqual([{ n: 2 }]);
          expect(
            await client.reader!.query(
              `SELECT COUNT(*) AS n FROM ${client.reader!.qualifiedTable('_ferry_loads')}`,
            ),
          ).toEqual([{ n: 2 }]);
          await client.dropDataset();
        } finally {
          await client.close();
        }
      } finally {
        await p.close();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
