import { normalizeDbtDatetime } from '../util/dbt-cloud-datetime.ts';

/** One row per node result of a `run_results.json`. */
export interface RunResultRow extends Record<string, unknown> {
  /** Node id, e.g. `model.jaffle_shop.customers`. */
  unique_id: string;
  /** `success`, `error`, `skipped`, `pass`, `fail`, `warn`, `runtime error`… (kept as written). */
  status: string | null;
  /** Seconds spent on the node. */
  execution_time: number | null;
  /** Thread that ran it (`Thread-1`). */
  thread_id: string | null;
  /** Result message. */
  message: string | null;
  /** Failing rows for tests; null for models. */
  failures: number | null;
  /** Resource type from the id prefix (`model`, `test`, `seed`, `snapshot`, `source`…). */
  resource_type: string;
  /** `timing` list as written (json). */
  timing: unknown;
  /** Start of the `compile` phase (ISO, UTC), null when absent. */
  compile_started_at: string | null;
  /** Start of the `execute` phase. */
  execute_started_at: string | null;
  /** End of the `execute` phase. */
  execute_completed_at: string | null;
  /** Adapter-specific response (json): shapes differ per adapter and node type. */
  adapter_response: unknown;
  /** Keys this parser does not know (json): newer dbt versions add some (`batch_results`, `compiled_code`…). */
  extra: Record<string, unknown>;
  /** `metadata.invocation_id` of the file. */
  invocation_id: string | null;
  /** `metadata.dbt_version`. */
  dbt_version: string | null;
  /** `metadata.generated_at` (normalized). */
  generated_at: string | null;
}

/** A parsed `run_results.json`. */
export interface ParsedRunResults {
  /** File metadata (`dbt_schema_version`, `dbt_version`, `generated_at`, `invocation_id`, …), as written. */
  metadata: Record<string, unknown>;
  /** `args.which` (the command: build, run, test…), when present. */
  command: string | null;
  /** Total elapsed seconds, when present. */
  elapsedTime: number | null;
  /** One row per result. */
  rows: RunResultRow[];
}

const KNOWN = new Set([
  'unique_id',
  'status',
  'execution_time',
  'thread_id',
  'message',
  'failures',
  'timing',
  'adapter_response',
]);

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : v === null || v === undefined ? null : String(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : null;
}

function phase(timing: unknown, name: string, key: 'started_at' | 'completed_at'): string | null {
  if (!Array.isArray(timing)) return null;
  const t = timing.find(
    (x) => x && typeof x === 'object' && (x as Record<string, unknown>)['name'] === name,
  ) as Record<string, unknown> | undefined;
  const v = t?.[key];
  return typeof v === 'string' ? normalizeDbtDatetime(v) : null;
}

/**
 * Parse a `run_results.json` (any schema version seen so far: v4–v6) into one row per node result.
 * Unknown keys go to `extra`; nothing unknown makes it fail. A missing or non-list `results` gives no rows.
 */
export function parseRunResults(doc: unknown): ParsedRunResults {
  const root = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const metadata = (
    root['metadata'] && typeof root['metadata'] === 'object' ? root['metadata'] : {}
  ) as Record<string, unknown>;
  const args = (root['args'] && typeof root['args'] === 'object' ? root['args'] : {}) as Record<
    string,
    unknown
  >;
  const results = Array.isArray(root['results']) ? root['results'] : [];
  const generatedAt = str(metadata['generated_at']);
  const rows: RunResultRow[] = [];
  for (const r of results) {
    if (!r || typeof r !== 'object') continue;
    const item = r as Record<string, unknown>;
    const uniqueId = str(item['unique_id']) ?? '';
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(item))
      if (!KNOWN.has(k))
        Object.defineProperty(extra, k, { value: v, enumerable: true, writable: true, configurable: true });
    rows.push({
      unique_id: uniqueId,
      status: str(item['status']),
      execution_time: num(item['execution_time']),
      thread_id: str(item['thread_id']),
      message: str(item['message']),
      failures: num(item['failures']),
      resource_type: uniqueId.split('.')[0] ?? '',
      timing: item['timing'] ?? null,
      compile_started_at: phase(item['timing'], 'compile', 'started_at'),
      execute_started_at: phase(item['timing'], 'execute', 'started_at'),
      execute_completed_at: phase(item['timing'], 'execute', 'completed_at'),
      adapter_response: item['adapter_response'] ?? null,
      extra,
      invocation_id: str(metadata['invocation_id']),
      dbt_version: str(metadata['dbt_version']),
      generated_at: generatedAt === null ? null : normalizeDbtDatetime(generatedAt),
    });
  }
  return { metadata, command: str(args['which']), elapsedTime: num(root['elapsed_time']), rows };
}

/** Figures of a parsed file: results per status, total and longest execution time. */
export function summarizeRunResults(rows: readonly RunResultRow[]): {
  results: number;
  byStatus: Record<string, number>;
  totalExecutionTime: number;
  longest: RunResultRow | undefined;
} {
  const byStatus: Record<string, number> = {};
  let total = 0;
  let longest: RunResultRow | undefined;
  for (const r of rows) {
    const s = r.status ?? 'unknown';
    byStatus[s] = (byStatus[s] ?? 0) + 1;
    total += r.execution_time ?? 0;
    if (!longest || (r.execution_time ?? 0) > (longest.execution_time ?? 0)) longest = r;
  }
  return { results: rows.length, byStatus, totalExecutionTime: total, longest };
}
