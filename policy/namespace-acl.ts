/**
 * The config store's namespace ACL (crdt/access.ts `AccessPolicy`) read from
 * committed critical config: key `acl/<namespace>` holds JSON, either
 * `"open"` (any admitted member may write) or an array of writer peer ids;
 * `acl/*` is the default for namespaces without their own key. Without
 * either, `fallback` decides (e.g. the agent file's `namespaces:` rules), or
 * the namespace is open. A value that is not one of those forms denies every
 * writer (fail closed) rather than guessing.
 */
import type { AccessPolicy } from '../crdt/access.js'
import type { CriticalConfig } from '../protocols/bft/critical-state.js'

export const ACL_PREFIX = 'acl/'

type Rule = 'open' | 'deny' | Set<string>

function parseRule (value: string): Rule {
  let v: unknown
  try { v = JSON.parse(value) } catch { return 'deny' }
  if (v === 'open') return 'open'
  if (Array.isArray(v) && v.every(x => typeof x === 'string')) return new Set(v as string[])
  return 'deny'
}

export function criticalAccessPolicy (config: CriticalConfig, fallback?: AccessPolicy): AccessPolicy {
  const cache = new Map<string, Rule | null>()
  const ruleOf = (key: string): Rule | null => {
    let r = cache.get(key)
    if (r === undefined) {
      const v = config.get(key)
      r = v === undefined ? null : parseRule(v.value)
      cache.set(key, r)
    }
    return r
  }
  config.onChange(c => { if (c.key.startsWith(ACL_PREFIX)) cache.delete(c.key) })
  return {
    canWrite (namespace, writer) {
      const rule = ruleOf(ACL_PREFIX + namespace) ?? ruleOf(`${ACL_PREFIX}*`)
      if (rule === null) return fallback?.canWrite(namespace, writer) ?? true
      return rule === 'open' || (rule !== 'deny' && rule.has(writer))
    },
    onChange (listener) {
      const offOurs = config.onChange(c => { if (c.key.startsWith(ACL_PREFIX)) listener() })
      const offTheirs = fallback?.onChange?.(listener)
      return () => { offOurs(); offTheirs?.() }
    }
  }
}
