/**
 * Who may write which namespace. The store asks one AccessPolicy; today its
 * rules come from the agent config file (`namespaces:` section), later from
 * BFT-committed critical config, which will implement the same interface.
 */
export interface AccessPolicy {
  /**
   * May `writer` (a peer id string) write `namespace`? Must be cheap and
   * synchronous. `seq` is the envelope's sequence number when one from the
   * network is checked (a revoked writer's envelopes up to its cut-off stay
   * valid, later ones do not); absent for this node's own new writes.
   */
  canWrite: (namespace: string, writer: string, seq?: number) => boolean
  /**
   * Subscribe to rule changes (e.g. a committed ACL); returns an
   * unsubscribe function. Optional: the store needs no re-fetch logic,
   * because refused envelopes are never stored and so stay "missing" in our
   * version vector; peers keep offering them in anti-entropy, and once the
   * rules allow the writer they are accepted.
   */
  onChange?: (listener: () => void) => () => void
}

/** Rule of one namespace: `open` (any admitted member) or an explicit writer list. */
export type WriterRule = 'open' | readonly string[]

/**
 * A policy from a static table. `fallback` applies to namespaces without an
 * entry (the config file's `"*"` entry; `open` when absent, so a fresh
 * cluster works without configuration).
 */
export function staticAccessPolicy (rules: Record<string, WriterRule>, fallback: WriterRule = 'open'): AccessPolicy {
  const table = new Map<string, 'open' | Set<string>>()
  for (const [ns, rule] of Object.entries(rules)) table.set(ns, rule === 'open' ? 'open' : new Set(rule))
  const dflt = fallback === 'open' ? 'open' : new Set(fallback)
  return {
    canWrite (namespace, writer) {
      const rule = table.get(namespace) ?? dflt
      return rule === 'open' || rule.has(writer)
    }
  }
}
