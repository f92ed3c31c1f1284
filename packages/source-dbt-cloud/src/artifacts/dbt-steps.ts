/**
 * The dbt invocations of a dbt Cloud run, read from its steps. dbt Cloud keeps one set of artifacts per
 * step and serves the **last** step's when `?step=` is omitted (Retrieve Run Artifact in the v2 spec), so a
 * job ending with `dbt docs generate` answers with the docs step's `run_results.json`. Ferry asks per step.
 */

/** One dbt invocation of a run. */
export interface DbtStep {
  /** Step index as dbt Cloud numbers it (1 = first step, the git clone), the value of `?step=`. */
  index: number;
  /** The step's name, e.g. "Invoke dbt with `dbt build`". */
  name: string;
  /** The dbt command, e.g. `dbt build -s orders+`. */
  command: string;
  /** True when the command writes `run_results.json` (not deps, clean, debug, source freshness). */
  writesRunResults: boolean;
  /** True when the command writes `manifest.json` (every command that parses the project). */
  writesManifest: boolean;
}

const INVOKE = /^Invoke dbt with `(.+)`$/;

/**
 * Commands that write neither artifact. `dbt source freshness` writes `sources.json` only; `deps`,
 * `clean`, `debug` and `init` do not parse the project.
 */
const NO_ARTIFACTS = /^dbt\s+(deps|clean|debug|init|source\s+freshness)\b/;

/**
 * The dbt steps of a run (`run_steps` as the API returns them): each step whose command (from
 * `run_step_command.dbt_command`, else the step name "Invoke dbt with `…`") is a dbt command, with what it
 * writes. Steps without an index or command (clone, profile) are left out.
 */
export function dbtStepsOf(runSteps: unknown): DbtStep[] {
  if (!Array.isArray(runSteps)) return [];
  const out: DbtStep[] = [];
  for (const raw of runSteps) {
    if (!raw || typeof raw !== 'object') continue;
    const step = raw as Record<string, unknown>;
    const index = Number(step['index']);
    if (!Number.isInteger(index) || index < 1) continue;
    const name = typeof step['name'] === 'string' ? step['name'] : '';
    const fromCommand = (step['run_step_command'] as Record<string, unknown> | null | undefined)?.[
      'dbt_command'
    ];
    const command =
      typeof fromCommand === 'string' && fromCommand.startsWith('dbt')
        ? fromCommand
        : (INVOKE.exec(name)?.[1] ?? '');
    if (!/^dbt\s/.test(command)) continue;
    const writes = !NO_ARTIFACTS.test(command);
    out.push({ index, name, command, writesRunResults: writes, writesManifest: writes });
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * The step whose `manifest.json` to load: the last step that writes one, preferring a step other than
 * `dbt docs generate` (which parses the same project, but a build's manifest is what ran).
 */
export function manifestStep(steps: readonly DbtStep[]): DbtStep | undefined {
  const candidates = steps.filter((s) => s.writesManifest);
  return candidates.filter((s) => !/^dbt\s+docs\s+generate\b/.test(s.command)).at(-1) ?? candidates.at(-1);
}
