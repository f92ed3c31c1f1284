/**
 * The rule for pipeline names, shared by `pipeline()` and the CLI's team file validation so that a
 * name `ferry validate` accepts is one `ferry run` accepts. A name keys the working folder
 * (`<data_dir>/<name>/`), the state rows and the run lock, so it must be a safe single path segment on
 * every file system: letters, digits, `_`, `-` and `.` (not first, so never `.` or `..`).
 */
export const PIPELINE_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Longest pipeline name: 64 characters. File systems allow 255 bytes per path segment, but the name
 * also goes into file names inside the working folder, lock names and the default dataset name
 * (`<name>_dataset`, which must fit Postgres' 63-byte identifiers), so the bound is kept well below.
 */
export const MAX_PIPELINE_NAME_LENGTH = 64;

/** What is wrong with a pipeline name (naming the value and the rule), or undefined when it is valid. */
export function pipelineNameProblem(name: string): string | undefined {
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  if (name.length === 0) return 'pipeline name must not be empty';
  if (name.length > MAX_PIPELINE_NAME_LENGTH)
    return `pipeline name '${shown}' is ${name.length} characters long; at most ${MAX_PIPELINE_NAME_LENGTH} are allowed`;
  if (!PIPELINE_NAME_PATTERN.test(name))
    return `pipeline name '${shown}' may use letters, digits, '_', '-' and '.' only (not '.' first)`;
  return undefined;
}
