/** A small seeded PRNG (mulberry32): the emulator's fixtures must be identical for a given seed and size. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [min, max] from a random source. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** A deterministic random source derived from a seed and a key (e.g. a run id), for lazily built data. */
export function keyedRandom(seed: number, key: number): () => number {
  // Mix the key into the seed (xorshift-multiply) so neighbouring ids give unrelated streams.
  let h = (seed ^ 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (key % 4294967296), 0xcc9e2d51) >>> 0;
  h = Math.imul(h ^ Math.floor(key / 4294967296), 0x1b873593) >>> 0;
  return createRandom(h ^ (h >>> 16));
}
