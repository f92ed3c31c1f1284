/**
 * Child process for the crash/resume case: runs a pipeline and SIGKILLs itself at CRASH_AT
 * (extract | normalize | normalize-workers | between-jobs | before-commit | after-commit), or runs cleanly when unset.
 */
import { pipeline, type Destination, type DestinationClient, type LoadPackagePlan } from '@ferry/core';
import { createDestination } from '@ferry/destinations';
import { runs, staticSource } from './fixtures.ts';

const crashAt = process.env.CRASH_AT ?? '';
const n = Number(process.env.ROWS ?? 5000);
const kill = () => process.kill(process.pid, 'SIGKILL');

const base = await createDestination(JSON.parse(process.env.DEST_CONFIG!));
// Small files so a package has several jobs per table ("between jobs" exists).
const capabilities = { ...base.capabilities, fileMaxRows: 1000 };
const destination: Destination = {
  type: base.type,
  capabilities,
  describe: () => base.describe(),
  ...(base.fileWriter ? { fileWriter: (f) => base.fileWriter!(f) } : {}),
  ...(base.fileWriterModule ? { fileWriterModule: (f) => base.fileWriterModule!(f) } : {}),
  async connect(options) {
    const client = await base.connect(options);
    const wrapped: DestinationClient = Object.create(client) as DestinationClient;
    wrapped.loadPackage = async (plan: LoadPackagePlan) => {
      const total = plan.tables.reduce((s, t) => s + t.jobs.length, 0);
      let done = 0;
      const events = {
        jobStarted: (job: Parameters<typeof plan.events.jobStarted>[0]) => plan.events.jobStarted(job),
        jobCompleted: async (job: Parameters<typeof plan.events.jobCompleted>[0]) => {
          await plan.events.jobCompleted(job);
          done++;
          if (crashAt === 'between-jobs' && done === 2) kill();
          if (crashAt === 'before-commit' && done === total) kill();
        },
      };
      await client.loadPackage({ ...plan, events });
      if (crashAt === 'after-commit') kill();
    };
    return wrapped;
  },
};

let extracted = 0;
const records = runs(n);
const src = staticSource(
  records.map((r) => {
    return r;
  }),
);
const p = pipeline({
  name: process.env.PIPELINE_NAME!,
  dataset: process.env.DATASET!,
  destination,
  dataDir: process.env.DATA_DIR!,
  // Overlapped extract/normalize on worker threads (the default path for big packages), forced small.
  ...(crashAt === 'normalize-workers' ? { normalizeWorkers: 2, extractFileMaxItems: 5000 } : {}),
  onEvent: (e) => {
    if (e.type === 'extract') {
      extracted = e.items;
      if (crashAt === 'extract' && extracted >= n / 2) kill();
    }
    if (e.type === 'normalize' && (crashAt === 'normalize' || crashAt === 'normalize-workers')) kill();
  },
});
const info = await p.run(src);
process.stdout.write(
  `${JSON.stringify({ loadIds: info.loadIds, rowCounts: info.rowCounts, extras: info.extras })}\n`,
);
