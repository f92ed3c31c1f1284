import { MAX_PIPELINE_NAME_LENGTH, PIPELINE_NAME_PATTERN, pipelineNameProblem } from '@ferry/core';
import { z } from 'zod';
import { SOURCE_TYPES } from '../sources/source-registry.ts';
import { dbtCloudConnectionFields } from '../sources/dbt-cloud-source-type.ts';
import { destinationSchema } from './destination-schema.ts';
import { durationLike, intLike, nonEmpty } from './zod-helpers.ts';

/** `transform.dbt_cloud`: trigger a dbt Cloud job after a successful load. */
export const dbtCloudTransformSchema = z
  .strictObject({
    job_id: intLike.describe('The dbt Cloud job to trigger.'),
    wait: z.boolean().default(true).describe('Wait for the run to finish. Default true.'),
    timeout: durationLike
      .default('30m')
      .describe('Give up waiting after this long (exit code 3). Default 30m.'),
    cancel_on_timeout: z
      .boolean()
      .default(false)
      .describe('Cancel the dbt Cloud run when the timeout passes. Default false.'),
    poll_interval: durationLike
      .optional()
      .describe('Time between status checks. Default chosen by the source (about 10s).'),
    cause: nonEmpty.optional().describe('Cause shown in dbt Cloud. Default "Triggered by ferry <pipeline>".'),
    skip_if_empty: z
      .boolean()
      .default(false)
      .describe('Skip the job when the load brought no new rows. Default false.'),
    host: dbtCloudConnectionFields.host,
    base_url: dbtCloudConnectionFields.base_url,
    account_id: dbtCloudConnectionFields.account_id.optional().describe("Default: the dbt Cloud source's."),
    api_token: dbtCloudConnectionFields.api_token.optional().describe("Default: the dbt Cloud source's."),
  })
  .describe(
    'Trigger a dbt Cloud job after a successful load; connection fields default to the dbt_cloud source.',
  );

/** `transform:` — steps run after a successful load. */
export const transformSchema = z
  .strictObject({ dbt_cloud: dbtCloudTransformSchema.optional() })
  .describe('Optional steps run after a successful load.');

/** `pipeline:` — name, dataset and engine knobs. */
export const pipelineSectionSchema = z
  .strictObject({
    name: z
      .string()
      .superRefine((name, ctx) => {
        // The engine's own rule (`pipeline()` applies it too), so validate and run never disagree.
        const problem = pipelineNameProblem(name);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .meta({
        description: `Pipeline name: keys local state and the state rows at the destination. Letters, digits, _, - and . (not first), at most ${MAX_PIPELINE_NAME_LENGTH} characters.`,
        pattern: PIPELINE_NAME_PATTERN.source,
        maxLength: MAX_PIPELINE_NAME_LENGTH,
      }),
    dataset: nonEmpty.optional().describe('Dataset (schema) at the destination. Default <name>_dataset.'),
    data_dir: nonEmpty
      .optional()
      .describe('Local working folder root. Default $FERRY_DATA_DIR, else ./.ferry.'),
    load_retries: intLike.optional().describe('Retries of a package load on a transient error. Default 5.'),
    normalize_workers: intLike.optional().describe('Normalize worker threads. Default min(cores, 4).'),
  })
  .describe('The pipeline.');

const sourceSchemas = Object.values(SOURCE_TYPES).map((t) => t.schema) as unknown as [
  z.ZodObject<{ type: z.ZodLiteral<string> }>,
  ...z.ZodObject<{ type: z.ZodLiteral<string> }>[],
];

/** `source:` — one of the registered source types, picked by `type`. */
export const sourceSchema = z.discriminatedUnion('type', sourceSchemas);

/** A team file. Keys are snake_case; unknown keys are errors (typos never pass silently). */
export const teamConfigSchema = z
  .strictObject({
    pipeline: pipelineSectionSchema,
    secrets_file: nonEmpty
      .optional()
      .describe('YAML or .env file (relative to this file) consulted for ${VAR} after the environment.'),
    source: sourceSchema,
    destination: destinationSchema,
    transform: transformSchema.optional(),
  })
  .describe('A Ferry team pipeline: one source, one destination, optional transform.');

/** The validated team file, still in YAML (snake_case) shape. */
export type TeamConfigYaml = z.output<typeof teamConfigSchema>;

/** JSON Schema (draft 2020-12) of a team file, for editors (`ferry schema`). Input shape: defaults optional. */
export function teamJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(teamConfigSchema, { io: 'input', unrepresentable: 'any' });
  return {
    $schema: schema['$schema'],
    title: 'Ferry team pipeline',
    ...schema,
  };
}
