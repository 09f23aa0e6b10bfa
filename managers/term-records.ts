/**
 * Records written under their writer's fencing term, read as "the highest
 * term wins". Replicated config is last-writer-wins by the writers' own
 * clocks, not by term, so one key per slot would let a holder that lost its
 * role overwrite its successor with a late write. Instead each holder writes
 * under its own term (`<slot>/<term>`), and every reader takes, per slot, the
 * record of the highest term: a stale holder can only write under its older
 * term, which readers ignore once a newer one is there. A holder writes its
 * term's key first and only then deletes the older keys (`older`): one
 * writer's envelopes apply in order on every node, so no node sees the
 * deletions without the record that replaces them.
 *
 * Used by placement records (placement-namespace.ts) and rollout progress
 * (rollout/progress.ts); docs/components.md "Fencing of placement records".
 */

/** A term in a key: canonical decimal (no sign, no leading zero), so one term has exactly one key. */
export const TERM_PATTERN = /^(0|[1-9][0-9]{0,15})$/

/** True when `s` is a term as keys spell it. */
export function isTermText (s: string): boolean {
  return TERM_PATTERN.test(s) && Number.isSafeInteger(Number(s))
}

/** What a namespace's reader makes of one entry; it throws when key or value does not parse or they disagree. */
export interface TermEntry<R> {
  /** The slot the record decides for (without the term). */
  slot: string
  term: number
  record: R
}

/** The record in force for one slot. */
export interface InForce<R> {
  slot: string
  key: string
  term: number
  record: R
  /** Peer id of the node that wrote it, when the store knows it. */
  writer?: string
  /** Keys of the same slot with older (or equal, duplicate) terms: superseded, for the holder to delete. */
  older: string[]
}

export interface InForceSet<R> {
  bySlot: Map<string, InForce<R>>
  /** Entries skipped because `read` threw. */
  invalid: number
}

/**
 * Per slot, the entry of the highest term. Never throws: an entry `read`
 * refuses is skipped and counted. The answer does not depend on the order of
 * the entries (equal terms of one slot cannot happen with valid keys; if
 * they do, the smaller key wins).
 */
export function inForce<R> (entries: Iterable<readonly [string, { value: unknown, writer?: string }]>, read: (key: string, value: unknown) => TermEntry<R>): InForceSet<R> {
  const bySlot = new Map<string, InForce<R>>()
  let invalid = 0
  for (const [key, { value, writer }] of entries) {
    let e: TermEntry<R>
    try {
      e = read(key, value)
    } catch {
      invalid++
      continue
    }
    const cur = bySlot.get(e.slot)
    const mine: InForce<R> = { slot: e.slot, key, term: e.term, record: e.record, ...(writer !== undefined ? { writer } : {}), older: [] }
    if (cur === undefined) {
      bySlot.set(e.slot, mine)
    } else if (e.term > cur.term || (e.term === cur.term && key < cur.key)) {
      mine.older = [...cur.older, cur.key].sort()
      bySlot.set(e.slot, mine)
    } else {
      cur.older.push(key)
      cur.older.sort()
    }
  }
  return { bySlot, invalid }
}
