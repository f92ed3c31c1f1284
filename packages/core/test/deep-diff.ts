/** Test helper: a structural diff that is stricter than vitest's `toStrictEqual` where it matters here. */

/** Every difference between two values: own keys (and their order), prototypes, values by Object.is. */
export function deepDiff(a: unknown, b: unknown, at: string): string[] {
  if (Object.is(a, b)) return [];
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return [`${at}: ${String(a)} vs ${String(b)}`];
  const out: string[] = [];
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) out.push(`${at}: prototypes differ`);
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  if (ka.join() !== kb.join()) out.push(`${at}: keys ${ka.map(String).join()} vs ${kb.map(String).join()}`);
  for (const k of ka) out.push(...deepDiff((a as never)[k], (b as never)[k], `${at}.${String(k)}`));
  return out;
}
