/**
 * What goes into a block and what makes one valid (the paper's valid(v)).
 * Validity depends only on the committed chain, never on the clock, so every
 * honest validator judges a block the same way; expiry of entries is checked
 * separately and only for fresh proposals (consensus.ts).
 */
import { bytesEqual, entryId } from './crypto.js'
import type { CriticalState, GrantTally } from './critical-state.js'
import type { Mempool } from './mempool.js'
import type { Block, Entry } from './types.js'

/** A fresh block for `height` from pending entries, or undefined when none is usable. */
export async function buildBlock (s: CriticalState, mempool: Mempool, height: number, now: number): Promise<Block | undefined> {
  const max = s.genesis.params.maxBlockEntries
  const entries: Entry[] = []
  const tally: GrantTally = new Map()
  for (const [id, e] of mempool.list()) {
    if (entries.length >= max) break
    if (e.expiresAt <= now || s.isCommitted(id)) { mempool.delete(id); continue }
    try {
      await s.validateEntry(e, height, tally)
    } catch {
      mempool.delete(id)
      continue
    }
    entries.push(e)
  }
  if (entries.length === 0) return undefined
  return { v: 1, chain: s.chain, height, prevHash: s.lastHash(), validatorSetHash: s.validatorsAt(height).hash, time: now, entries }
}

/** Right network, height, parent and validator set; 1..max distinct, valid, uncommitted entries. */
export async function isValidBlock (s: CriticalState, b: Block, height: number): Promise<boolean> {
  try {
    if (!bytesEqual(b.chain, s.chain) || b.height !== height || !bytesEqual(b.prevHash, s.lastHash()) ||
      !bytesEqual(b.validatorSetHash, s.validatorsAt(height).hash) ||
      b.entries.length === 0 || b.entries.length > s.genesis.params.maxBlockEntries) {
      return false
    }
    const ids = new Set<string>()
    const tally: GrantTally = new Map()
    for (const e of b.entries) {
      const id = entryId(s.chain, e)
      if (ids.has(id)) return false
      ids.add(id)
      await s.validateEntry(e, height, tally)
    }
    return true
  } catch {
    return false
  }
}
