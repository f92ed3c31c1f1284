import { dbtCloudSourceType } from './dbt-cloud-source-type.ts';
import { restApiSourceType } from './rest-api-source-type.ts';
import type { SourceType } from './source-type.ts';

/**
 * Every `source.type` the YAML accepts. Adding a source is one entry: its schema joins the YAML
 * validation and the JSON Schema, and `create` is called by `ferry run`.
 */
export const SOURCE_TYPES: Readonly<Record<string, SourceType>> = {
  dbt_cloud: dbtCloudSourceType,
  rest_api: restApiSourceType,
};
