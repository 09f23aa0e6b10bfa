/**
 * Which publishers' component manifests this node accepts (issue 13, item 2).
 *
 * With a genesis the network decides, every node alike: critical config key
 * `publishers` holds a JSON array of publisher ids (Ed25519 peer ids,
 * `mycel publisher keygen`), committed through BFT; an absent or deleted key
 * trusts nobody (fail closed: a network that never named a publisher runs no
 * component). Without a genesis there is no network-wide decision, so the
 * agent config's `publishers` (flag `--publisher ID`, repeatable) decides for
 * this node.
 *
 * The key's format is one rule (`checkPublishers`) run where a value enters:
 * every validator's entry check (`PUBLISHERS_KEY_RULE`, passed to critical
 * config as a key rule, so a malformed list is never committed), the genesis
 * values, and the agent config. A value that still fails to parse (written by
 * an older release without the rule) trusts nobody and says why.
 */
import type { CriticalConfig } from '../protocols/bft/critical-state.js'
import { isEd25519PeerId } from '../protocols/bft/genesis.js'

export const PUBLISHERS_KEY = 'publishers'

/** Most publishers one network trusts; a longer list is a mistake, and it is read on every manifest check. */
export const MAX_PUBLISHERS = 256

export class InvalidPublishersError extends Error {
  static name = 'InvalidPublishersError'
  override name = 'InvalidPublishersError'
}

/** The one format rule: a list of 0..MAX_PUBLISHERS Ed25519 peer ids; returns them deduplicated and sorted. Messages omit the key: callers name it. */
export function checkPublishers (ids: unknown): string[] {
  if (!Array.isArray(ids) || ids.length > MAX_PUBLISHERS) throw new InvalidPublishersError(`must be a list of at most ${MAX_PUBLISHERS} publisher ids`)
  for (const id of ids) {
    if (typeof id !== 'string' || !isEd25519PeerId(id)) throw new InvalidPublishersError(`${String(id).slice(0, 64)} is not a publisher id (an Ed25519 peer id, see \`mycel publisher keygen\`)`)
  }
  return [...new Set(ids as string[])].sort()
}

/** `publishers` as stored in critical config: JSON text, or null once deleted. */
export function parsePublishersValue (value: string | null): string[] {
  if (value === null) return []
  let ids: unknown
  try { ids = JSON.parse(value) } catch { throw new InvalidPublishersError('must be a JSON array of publisher ids') }
  return checkPublishers(ids)
}

/** The key rule critical config runs on every entry and genesis value for `publishers`. */
export const PUBLISHERS_KEY_RULE: readonly [string, (value: string | null) => void] = [PUBLISHERS_KEY, (value) => { parsePublishersValue(value) }]

export interface PublisherTrust {
  /** Where the list comes from: committed critical config, or this agent's config. */
  readonly source: 'critical' | 'config'
  trusts: (publisherId: string) => boolean
  /** The trusted ids, sorted. */
  list: () => string[]
  /** Why nobody is trusted, when the committed value cannot be read. */
  problem: () => string | undefined
  /** Called when the committed list changes; returns the unsubscribe function. */
  onChange: (listener: () => void) => () => void
}

/** The trust view: committed critical config when the network has a genesis, else the agent config's list. */
export function publisherTrust (opts: { critical?: CriticalConfig, configured: readonly string[] }): PublisherTrust {
  const critical = opts.critical
  if (critical === undefined) {
    const ids = checkPublishers([...opts.configured])
    const set = new Set(ids)
    return { source: 'config', trusts: (id) => set.has(id), list: () => [...ids], problem: () => undefined, onChange: () => () => {} }
  }
  let cached: { ids: Set<string>, problem?: string } | undefined
  const read = (): { ids: Set<string>, problem?: string } => {
    if (cached !== undefined) return cached
    const v = critical.get(PUBLISHERS_KEY)
    try {
      cached = { ids: new Set(parsePublishersValue(v?.value ?? null)) }
    } catch (err) {
      cached = { ids: new Set(), problem: `committed ${PUBLISHERS_KEY} cannot be read, so no publisher is trusted: ${(err as Error).message}` }
    }
    return cached
  }
  critical.onChange(c => { if (c.key === PUBLISHERS_KEY) cached = undefined })
  return {
    source: 'critical',
    trusts: (id) => read().ids.has(id),
    list: () => [...read().ids].sort(),
    problem: () => read().problem,
    onChange: (listener) => critical.onChange(c => { if (c.key === PUBLISHERS_KEY) listener() })
  }
}
