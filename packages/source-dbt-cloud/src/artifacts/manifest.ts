/** One row per model node of a `manifest.json`. */
export interface ModelRow extends Record<string, unknown> {
  /** `model.<package>.<name>`. */
  unique_id: string;
  /** Model name. */
  name: string | null;
  /** Package (project) name. */
  package_name: string | null;
  /** `sql` or `python` (absent before dbt 1.3 → null). */
  language: string | null;
  /** `config.materialized` (view, table, incremental, ephemeral…). */
  materialized: string | null;
  /** Database, schema and alias the model builds into. */
  database: string | null;
  /** Target schema. */
  schema: string | null;
  /** Relation alias. */
  alias: string | null;
  /** Fully quoted relation name (1.7+), else null. */
  relation_name: string | null;
  /** Path of the model file in the project. */
  original_file_path: string | null;
  /** Description from YAML. */
  description: string | null;
  /** Tags (json list). */
  tags: unknown;
  /** `depends_on.nodes`: upstream node ids (json list). */
  depends_on_nodes: unknown;
  /** Full `config` (json). */
  config: unknown;
  /** Documented columns (json object keyed by column name). */
  columns: unknown;
  /** Other keys of the node (json): kept, never a reason to fail. */
  extra: Record<string, unknown>;
  /** `metadata.project_name` (absent before dbt 1.5 → null). */
  project_name: string | null;
  /** `metadata.invocation_id`. */
  invocation_id: string | null;
  /** `metadata.dbt_version`. */
  dbt_version: string | null;
}

/** A parsed `manifest.json`. */
export interface ParsedManifest {
  /** File metadata as written. */
  metadata: Record<string, unknown>;
  /** Model rows. */
  models: ModelRow[];
  /** Count of nodes per `resource_type` (model, test, seed, snapshot, analysis, operation…). */
  nodeCounts: Record<string, number>;
  /** Entries of `sources`. */
  sourceCount: number;
}

const KNOWN = new Set([
  'unique_id',
  'name',
  'package_name',
  'language',
  'database',
  'schema',
  'alias',
  'relation_name',
  'original_file_path',
  'description',
  'tags',
  'depends_on',
  'config',
  'columns',
  'resource_type',
  // large text bodies: kept out of `extra` on purpose (the code is in the repository and in the artifact)
  'raw_code',
  'raw_sql',
  'compiled_code',
  'compiled_sql',
]);

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** Parse a `manifest.json` (v7–v12 seen) into model rows plus node counts. Unknown keys go to `extra`. */
export function parseManifest(doc: unknown): ParsedManifest {
  const root = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const metadata = (
    root['metadata'] && typeof root['metadata'] === 'object' ? root['metadata'] : {}
  ) as Record<string, unknown>;
  const nodes = (root['nodes'] && typeof root['nodes'] === 'object' ? root['nodes'] : {}) as Record<
    string,
    unknown
  >;
  const sources = root['sources'] && typeof root['sources'] === 'object' ? Object.keys(root['sources']) : [];
  const nodeCounts: Record<string, number> = {};
  const models: ModelRow[] = [];
  for (const [key, value] of Object.entries(nodes)) {
    if (!value || typeof value !== 'object') continue;
    const node = value as Record<string, unknown>;
    const type = str(node['resource_type']) ?? key.split('.')[0] ?? 'unknown';
    nodeCounts[type] = (nodeCounts[type] ?? 0) + 1;
    if (type !== 'model') continue;
    const config = (node['config'] && typeof node['config'] === 'object' ? node['config'] : {}) as Record<
      string,
      unknown
    >;
    const dependsOn = (
      node['depends_on'] && typeof node['depends_on'] === 'object' ? node['depends_on'] : {}
    ) as Record<string, unknown>;
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node))
      if (!KNOWN.has(k))
        Object.defineProperty(extra, k, { value: v, enumerable: true, writable: true, configurable: true });
    models.push({
      unique_id: str(node['unique_id']) ?? key,
      name: str(node['name']),
      package_name: str(node['package_name']),
      language: str(node['language']),
      materialized: str(config['materialized']),
      database: str(node['database']),
      schema: str(node['schema']),
      alias: str(node['alias']),
      relation_name: str(node['relation_name']),
      original_file_path: str(node['original_file_path']),
      description: str(node['description']),
      tags: node['tags'] ?? [],
      depends_on_nodes: dependsOn['nodes'] ?? [],
      config,
      columns: node['columns'] ?? {},
      extra,
      project_name: str(metadata['project_name']),
      invocation_id: str(metadata['invocation_id']),
      dbt_version: str(metadata['dbt_version']),
    });
  }
  return { metadata, models, nodeCounts, sourceCount: sources.length };
}
