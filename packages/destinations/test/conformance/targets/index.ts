import { readdirSync } from 'node:fs';
import type { ConformanceTarget } from './types.ts';

export type { ConformanceTarget } from './types.ts';

/**
 * Every destination the conformance suite knows: each `*.target.ts` file in this folder exports one
 * `target` (a destination adds its file; nothing here changes).
 */
export const ALL_TARGETS: ConformanceTarget[] = [];
for (const file of readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.target.ts'))
  .sort()) {
  const mod = (await import(/* @vite-ignore */ `./${file}`)) as {
    target?: ConformanceTarget;
    targets?: ConformanceTarget[];
  };
  if (mod.target) ALL_TARGETS.push(mod.target);
  for (const t of mod.targets ?? []) ALL_TARGETS.push(t);
}
ALL_TARGETS.sort((a, b) =>
  a.name === 'duckdb' ? -1 : b.name === 'duckdb' ? 1 : a.name.localeCompare(b.name),
);

/** The targets selected by `DESTINATIONS=duckdb,postgres` (default: all registered). */
export function selectedTargets(): ConformanceTarget[] {
  const wanted = process.env.DESTINATIONS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!wanted || wanted.length === 0) return ALL_TARGETS;
  const unknown = wanted.filter((w) => !ALL_TARGETS.some((t) => t.name === w));
  if (unknown.length > 0)
    throw new Error(
      `DESTINATIONS names unknown targets: ${unknown.join(', ')} (known: ${ALL_TARGETS.map((t) => t.name).join(', ')})`,
    );
  return ALL_TARGETS.filter((t) => wanted.includes(t.name));
}
