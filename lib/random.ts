/** Fisher-Yates shuffle of a copy; `random` in [0, 1) (a simulation passes its seeded one). */
export function shuffled<T> (items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = out[i]
    out[i] = out[j]
    out[j] = t
  }
  return out
}
