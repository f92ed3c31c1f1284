/**
 * Worker thread body for parallel normalize: normalizes the raw files the main thread posts (as extract
 * closes them) with its own copy of the schema, and at `end` reports the jobs, row counts and its schema.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FerryError } from '../errors.ts';
import type { FileWriterFactory } from '../destination/destination.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import { BUILTIN_WRITERS } from '../writers/writers.ts';
import { createFileNormalizer, type FileNormalizer } from './normalize-package.ts';
import type { WorkerCommand, WorkerInput, WorkerMessage, WorkerOutput } from './parallel-normalize.ts';

const input = workerData as WorkerInput;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);

async function loadWriter(): Promise<FileWriterFactory> {
  const w = input.writer;
  if ('builtin' in w) return BUILTIN_WRITERS[w.builtin]!;
  const mod = (await import(w.module)) as Record<string, unknown>;
  const factory = mod[w.exportName];
  if (typeof factory !== 'function')
    throw new FerryError('NORMALIZE_FAILED', `writer module ${w.module} has no function '${w.exportName}'`);
  return factory as FileWriterFactory;
}

const schema = new Schema(input.schemaName, input.schema);
const ready: Promise<FileNormalizer> = loadWriter().then((writer) =>
  createFileNormalizer({
    outDir: input.outDir,
    loadId: input.loadId,
    schema,
    naming: new NamingConvention(input.naming),
    format: input.format,
    writer,
    fileMaxRows: input.fileMaxRows,
    fileMaxBytes: input.fileMaxBytes,
    onEvent: (event) => post({ kind: 'event', event }),
    fileIdPrefix: input.fileIdPrefix,
    widen: input.widen,
    limits: input.limits,
    ...(input.codegen === undefined ? {} : { codegen: input.codegen }),
  }),
);
// Files are normalized one after another, in the order they were posted.
let chain: Promise<unknown> = ready;
let failed = false;

function fail(error: unknown): void {
  if (failed) return;
  failed = true;
  const e = error as Error;
  post({
    kind: 'error',
    name: e.name,
    message: e.message,
    code: error instanceof FerryError ? error.code : undefined,
    context: error instanceof FerryError ? error.context : undefined,
  });
}

port.on('message', (command: WorkerCommand) => {
  chain = chain.then(async () => {
    if (failed) return;
    const normalizer = await ready;
    if (command.kind === 'file') {
      await normalizer.normalizeFile(command.extractedDir, command.file, command.resource);
    } else {
      const result = await normalizer.finish();
      const out: WorkerOutput = { kind: 'done', ...result, schema: schema.toStored() };
      post(out);
    }
  });
  chain = chain.catch(fail);
});
