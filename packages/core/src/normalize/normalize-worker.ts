/**
 * Worker thread body for parallel normalize: normalizes its share of a package's raw files with its own
 * copy of the schema and reports the jobs, row counts and its schema back to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FerryError } from '../errors.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import { BUILTIN_WRITERS } from '../writers/writers.ts';
import { normalizeFiles } from './normalize-package.ts';
import type { WorkerInput, WorkerOutput } from './parallel-normalize.ts';

const input = workerData as WorkerInput;
try {
  const schema = new Schema(input.manifest.schemaName, input.schema);
  const result = await normalizeFiles({
    extractedDir: input.extractedDir,
    outDir: input.outDir,
    manifest: input.manifest,
    schema,
    naming: new NamingConvention(input.naming),
    format: input.format,
    writer: BUILTIN_WRITERS[input.format]!,
    fileMaxRows: input.fileMaxRows,
    fileMaxBytes: input.fileMaxBytes,
    onEvent: (event) => parentPort!.postMessage({ kind: 'event', event }),
    files: input.files,
    fileIdPrefix: input.fileIdPrefix,
    widen: input.widen,
  });
  const out: WorkerOutput = { kind: 'done', ...result, schema: schema.toStored() };
  parentPort!.postMessage(out);
} catch (error) {
  const e = error as Error;
  parentPort!.postMessage({
    kind: 'error',
    name: e.name,
    message: e.message,
    code: error instanceof FerryError ? error.code : undefined,
    context: error instanceof FerryError ? error.context : undefined,
  });
}
