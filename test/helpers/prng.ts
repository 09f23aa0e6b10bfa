/** Seeded PRNG (mulberry32) so randomized tests are reproducible from the seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomBytes (rand: () => number, maxLen: number): Uint8Array {
  const out = new Uint8Array(Math.floor(rand() * maxLen))
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256)
  return out
}

/** Flip a few bytes of a valid message: garbage that gets past the first checks. */
export function mutate (rand: () => number, input: Uint8Array): Uint8Array {
  const out = Uint8Array.from(input)
  const flips = 1 + Math.floor(rand() * 4)
  for (let i = 0; i < flips && out.length > 0; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256)
  if (rand() < 0.2) return out.subarray(0, Math.floor(rand() * out.length))
  return out
}
