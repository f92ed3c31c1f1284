import { defineCapabilities, type Destination, type DestinationCapabilities } from '@ferry/core';
import { SqlCompiler } from '../sql/sql-compiler.ts';
import { CompileOnlyClient, type RecordedStatement } from './compile-only-client.ts';

export { CompileOnlyClient, type RecordedStatement } from './compile-only-client.ts';
export { SqlCompiler, type MergeTable, type Statement } from '../sql/sql-compiler.ts';

/** A destination that records the SQL a load would run, for plan tests and `ferry run --dry-run`. */
export interface CompileOnlyDestination extends Destination {
  /** Every statement recorded by every client, in order. */
  readonly statements: RecordedStatement[];
}

/**
 * Compile-only destination. `compiler` picks the dialect (default: the shared SQL compiler);
 * `capabilities` default to a transactional SQL warehouse.
 */
export function compileOnly(
  options: { compiler?: SqlCompiler; capabilities?: Partial<DestinationCapabilities> } = {},
): CompileOnlyDestination {
  const statements: RecordedStatement[] = [];
  const compiler = options.compiler ?? new SqlCompiler();
  return {
    type: 'compile-only',
    capabilities: defineCapabilities({ supportsTransactionalDdl: true, ...options.capabilities }),
    statements,
    describe: () => 'compile-only',
    connect: async ({ dataset }) => new CompileOnlyClient(dataset, compiler, statements),
  };
}
