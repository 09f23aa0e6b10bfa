/** Seeded PRNG (mulberry32); it lives in harness/, which bench/ uses too and which may not import test/. */
import { prng } from '../../harness/prng.js'
export { prng }

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
