/**
 * Process exit codes of `ferry`, stable so an orchestrator (cron, Airflow, Kubernetes) can act on them:
 * retry a run failure, page someone on a config error, re-run only the transform on a dbt failure.
 */
export const EXIT = {
  /** Everything succeeded. */
  ok: 0,
  /** A pipeline run failed (extract, normalize, load, destination unreachable). Usually worth a retry. */
  runFailed: 1,
  /** Bad usage or configuration (unknown option, invalid YAML, missing secret). Retrying will not help. */
  usage: 2,
  /** The load succeeded but the dbt Cloud transform failed, was cancelled or timed out. */
  transformFailed: 3,
  /** `run --all`: some teams succeeded and some failed. */
  partial: 4,
  /**
   * A load package can never load as it is (bad data past a limit or contract, a value the destination
   * refuses): it was moved aside, its state not committed. Retrying as-is extracts the same data again, so
   * an orchestrator should alert, not loop; fix the data or the config, then run again.
   */
  packageFailed: 5,
} as const;

/** One of the {@link EXIT} values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit-code table as shown by `ferry --help` and the README. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  pipeline run failed (extract, normalize, load or destination error)
  2  usage or configuration error (invalid YAML, unknown destination, missing secret)
  3  load succeeded but the dbt Cloud transform failed, was cancelled or timed out
  4  run --all: at least one team failed (partial success)
  5  a load package can never load as it is (bad data, a value the destination refuses): it was moved
     aside (listed by 'ferry pipeline info'), its state not committed; fix the cause, then run again`;
