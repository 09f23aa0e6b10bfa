/**
 * A revoked writer's replicated-config history up to its cut-off stays
 * valid; every later envelope is refused, by every node, whoever relays it
 * (docs/security.md). The cut-off is part of the committed revocation
 * (`admission/revoked/<peer>` `cutoff`, per namespace: the writer's last
 * sequence number the proposing node held), so every node draws the line at
 * the same place; a namespace it does not name is cut at 0. After a key
 * hand-over the old id's cut-off is the one its owner declared when it
 * handed over. Wraps the namespace ACL (namespace-acl.ts): both must allow.
 *
 * Envelopes past the cut-off that a node accepted before the revocation
 * reached it stay in its documents (a CRDT cannot take an applied update
 * back); the window is the time from proposing the revocation to its commit.
 */
import type { AccessPolicy } from '../crdt/access.js'
import type { PeerPolicy } from '../lib/peer-policy.js'

export function withRevocationCutoff (inner: AccessPolicy, policy: () => PeerPolicy | undefined): AccessPolicy {
  return {
    canWrite (namespace, writer, seq) {
      const cut = policy()?.cutoff(writer)
      if (cut !== undefined && (seq === undefined || seq > (cut[namespace] ?? 0))) return false
      return inner.canWrite(namespace, writer, seq)
    },
    onChange (listener) {
      const offInner = inner.onChange?.(listener)
      let offPolicy: (() => void) | undefined
      // The policy view exists once critical config runs; until then nothing is revoked.
      const p = policy()
      if (p !== undefined) offPolicy = p.onChange(listener)
      return () => { offInner?.(); offPolicy?.() }
    }
  }
}

/**
 * A writer's cut-off as a node holds it: per namespace, the writer's last
 * sequence number in a version vector ({namespace: {writer: seq}}). What a
 * revocation or a key hand-over commits.
 */
export function cutoffOf (vv: Readonly<Record<string, Readonly<Record<string, number>>>>, writer: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [ns, writers] of Object.entries(vv)) {
    const seq = Object.hasOwn(writers, writer) ? writers[writer] : 0
    if (seq > 0) out[ns] = seq
  }
  return out
}
