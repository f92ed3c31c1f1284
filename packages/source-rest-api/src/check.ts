import { ConfigError } from '@ferry/core';
import type { RestApiConfig } from './config.ts';
import { createPaginator } from './paginators.ts';
import { resolveResources } from './resolve.ts';

/** One problem of a config, at a path into the config as written (resource entries by index). */
export interface RestApiConfigProblem {
  /** Path into the config, e.g. `['resources', 1, 'endpoint', 'path']`. */
  path: (string | number)[];
  /** What is wrong and what to write instead (without the path). */
  message: string;
}

/** `resources.<name>.endpoint.params.x` → `['resources', <index>, 'endpoint', 'params', 'x']`. */
function toPath(config: RestApiConfig, dotted: string): (string | number)[] {
  const parts = dotted.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  if (parts[0] !== 'resources' || parts.length < 2) return parts;
  const index = config.resources.findIndex((r) => (typeof r === 'string' ? r : r.name) === parts[1]);
  return index < 0
    ? parts
    : ['resources', index, ...parts.slice(2).map((p) => (/^\d+$/.test(p) ? Number(p) : p))];
}

function problemOf(config: RestApiConfig, error: ConfigError): RestApiConfigProblem {
  const dotted = String((error.context as { path?: string }).path ?? '');
  const message =
    dotted && error.message.startsWith(`${dotted}: `)
      ? error.message.slice(dotted.length + 2)
      : error.message;
  return { path: toPath(config, dotted), message };
}

/**
 * Everything `restApiSource` checks before its first request, as a list: placeholders that name
 * resources which do not exist (or the resource itself, or a second parent), incremental placeholders
 * without `incremental`, `include_from_parent` without a parent, merge without a key, paginators that
 * could never stop. `ferry validate` reports these with their line; no request is sent.
 */
export function checkRestApiConfig(config: RestApiConfig): RestApiConfigProblem[] {
  const problems: RestApiConfigProblem[] = [];
  let resolved;
  try {
    resolved = resolveResources(config);
  } catch (error) {
    if (error instanceof ConfigError) return [problemOf(config, error)];
    throw error;
  }
  for (const r of resolved) {
    const wd = r.config.write_disposition;
    const disposition = typeof wd === 'object' ? wd.disposition : wd;
    if (disposition === 'merge' && r.config.primary_key === undefined && r.config.merge_key === undefined)
      problems.push({
        path: toPath(config, `resources.${r.name}.write_disposition`),
        message: 'write_disposition merge needs primary_key or merge_key',
      });
    const paginator = r.endpoint.paginator ?? config.client.paginator;
    if (paginator !== undefined) {
      const where = `resources.${r.name}.endpoint.paginator`;
      try {
        createPaginator(paginator, where);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const p = problemOf(config, error);
        // a client paginator is shared: name it where it is written
        if (r.endpoint.paginator === undefined && config.resource_defaults?.endpoint === undefined)
          p.path = ['client', 'paginator'];
        problems.push(p);
      }
    }
  }
  return problems;
}
