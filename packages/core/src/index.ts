export * from './errors.ts';
export type * from './schema/types.ts';
export { DATA_TYPES, SCHEMA_ENGINE_VERSION, SYSTEM_COLUMNS, SYSTEM_TABLES } from './schema/types.ts';
export type * from './destination/capabilities.ts';
export { DEFAULT_CAPABILITIES, defineCapabilities } from './destination/capabilities.ts';
export type * from './destination/destination.ts';
export type * from './extract/resource.ts';
export { resource, transformer, source } from './extract/resource.ts';
export type * from './pipeline/types.ts';
