/**
 * Per-peer retry times after failures: the gap doubles per failure from
 * `firstMs` up to `maxMs`. Push-pull uses it for strangers whose join
 * exchange keeps failing, the connection maintenance for subjects whose dial
 * keeps failing; both forget a peer once it is no longer theirs to retry.
 */
export class PeerBackoff {
  private readonly next = new Map<string, { at: number, gapMs: number }>()

  constructor (private readonly firstMs: number, private readonly maxMs: number, private readonly now: () => number) {}

  /** May `id` be tried now (never failed, or its gap has passed)? */
  due (id: string): boolean {
    return (this.next.get(id)?.at ?? 0) <= this.now()
  }

  /** `id` failed: its next try waits twice the last gap (`firstMs` the first time), at most `maxMs`. */
  failed (id: string): void {
    const gapMs = Math.min(2 * (this.next.get(id)?.gapMs ?? this.firstMs / 2), this.maxMs)
    this.next.set(id, { at: this.now() + gapMs, gapMs })
  }

  /** `id` succeeded or changed: its next failure starts from `firstMs` again. */
  forget (id: string): void {
    this.next.delete(id)
  }

  /** Forget every peer not in `ids` (the set still tracked), so the map stays that set's size. */
  keepOnly (ids: Iterable<string>): void {
    const keep = new Set(ids)
    for (const id of this.next.keys()) if (!keep.has(id)) this.next.delete(id)
  }
}
