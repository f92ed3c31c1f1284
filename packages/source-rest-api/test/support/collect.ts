import type { DataItem, Resource, ResourceContext, Source } from '@ferry/core';

/**
 * Run a source's resources the way the extractor does (parents first, each child once per parent row,
 * incremental cursor from `initialValue`) and collect rows by resource. For tests of request behaviour
 * that need no destination.
 */
export async function collect(src: Source): Promise<Record<string, DataItem[]>> {
  const out: Record<string, DataItem[]> = {};
  const ctxFor = (r: Resource): ResourceContext => {
    const inc = r.options.incremental;
    return {
      incremental: inc
        ? {
            initialValue: inc.initialValue,
            lastValue: undefined,
            startValue: inc.initialValue,
            endValue: inc.endValue,
          }
        : undefined,
      state: {},
      signal: new AbortController().signal,
    };
  };
  const kids = (p: Resource) => src.resources.filter((r) => r.transform?.parent === p);
  const consume = async (r: Resource, it: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> => {
    for await (const y of it as AsyncIterable<DataItem | DataItem[]>) {
      const batch = Array.isArray(y) ? y : [y];
      (out[r.name] ??= []).push(...batch);
      for (const k of kids(r)) for (const item of batch) await consume(k, k.transform!.fn(item, ctxFor(k)));
    }
  };
  for (const r of src.resources.filter((x) => !x.transform)) await consume(r, r.fn!(ctxFor(r)));
  return out;
}
