import { resource, source, type DataItem, type Source, type ResourceOptions } from '@ferry/core';

/** A dbt-run-like record: 14-digit id, timestamps in mixed forms, a nested object and a list. */
export function runRecord(i: number, overrides: Partial<DataItem> = {}): DataItem {
  const base = 70403104190000 + i;
  return {
    id: base,
    job_id: 278164 + (i % 7),
    status: i % 5 === 0 ? 20 : 10,
    created_at: `2024-03-25 13:47:${String(i % 60).padStart(2, '0')}.129690+00:00`,
    finished_at:
      i % 3 === 0
        ? `2024-03-25T13:48:${String(i % 60).padStart(2, '0')}Z`
        : `2024-03-25T13:48:${String(i % 60).padStart(2, '0')}.185668+00:00`,
    git_branch: i % 4 === 0 ? null : `feature/${i}`,
    trigger: { cause: `cause ${i}`, id: i },
    run_steps: [
      { index: 1, name: `dbt deps ${i}`, status: 10 },
      { index: 2, name: `dbt build ${i}`, status: i % 5 === 0 ? 20 : 10 },
    ],
    ...overrides,
  };
}

/** A one-resource source yielding the given records in pages of 100. */
export function staticSource(
  records: DataItem[],
  options: Partial<ResourceOptions> = {},
  sourceName = 'conformance',
): Source {
  const runs = resource({ name: 'runs', ...options }, function* () {
    for (let i = 0; i < records.length; i += 100) yield records.slice(i, i + 100);
  });
  return source({ name: sourceName, resources: [runs] });
}

/** Records 0..n-1. */
export function runs(n: number, from = 0): DataItem[] {
  return Array.from({ length: n }, (_, k) => runRecord(from + k));
}
