export * from './errors.ts';
export type * from './schema/types.ts';
export { DATA_TYPES, SCHEMA_ENGINE_VERSION, SYSTEM_COLUMNS, SYSTEM_TABLES } from './schema/types.ts';
export type * from './destination/capabilities.ts';
export { DEFAULT_CAPABILITIES, defineCapabilities } from './destination/capabilities.ts';
export type * from './destination/destination.ts';
export type * from './extract/resource.ts';
export { resource, transformer, source } from './extract/resource.ts';
export type * from './pipeline/types.ts';
export { pipeline, Pipeline } from './pipeline/pipeline.ts';
export {
  MAX_PIPELINE_NAME_LENGTH,
  PIPELINE_NAME_PATTERN,
  pipelineNameProblem,
} from './pipeline/pipeline-name.ts';
export { parseJson, stringifyJson, stableStringify } from './util/json.ts';
export { shortHash } from './util/hash.ts';
export {
  jsonlWriter,
  csvWriter,
  BUILTIN_WRITERS,
  FILE_EXTENSIONS,
  isRecordFileWriter,
  type RecordFileWriter,
  type WriterColumn,
} from './writers/writers.ts';
export { BufferedFile } from './writers/buffered-file.ts';
export { NamingConvention } from './schema/naming.ts';
export { Schema } from './schema/schema.ts';
export { parseTimestamp, inferDataType, coerceValue, daysFromCivil } from './schema/infer.ts';
export { IncrementalTracker } from './extract/incremental.ts';
export { RowNormalizer, type ResourceTableInfo } from './normalize/relational.ts';
export { NOT_COERCIBLE, widenType } from './schema/infer.ts';
export { Dataset, Relation, toUserValue, type DatasetRow } from './dataset/dataset.ts';
export { assertReadOnlySql, ReadOnlySqlError } from './dataset/read-only-sql.ts';
export { schemaTypes, TS_TYPES, type SchemaTypesOptions } from './schema/typegen.ts';
export { processAlive } from './storage/run-lock.ts';
export { withFileMutex, type FileMutexOptions } from './util/fs.ts';
