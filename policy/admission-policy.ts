/**
 * The admission policy every node enforces, read from committed critical
 * config (keys and formats: admission-values.ts; docs/security.md):
 *
 *  1. a revoked peer (`admission/revoked/<peer>`, or an old id whose key
 *     hand-over grace has ended) is `revoked`, whatever else says;
 *  2. in open mode everyone else is admitted;
 *  3. under an allowlist, the current validators and admins, the ids of the
 *     inline `allow` list and those with an `admission/allow/<peer>` key are
 *     admitted, the last restricted to their `regions` when they name some;
 *     everyone else is `not-allowed`.
 *
 * Validators and admins are always on the allowlist: leaving one off would
 * cut the network's own quorum off the network. A value that cannot be read
 * (written by an older release without the rule) fails closed for that key:
 * an unreadable `admission` is an empty allowlist, an unreadable allow entry
 * admits nobody, an unreadable revocation still revokes.
 */
import type { CriticalConfig } from '../protocols/bft/critical-state.js'
import { ADMINS_KEY, VALIDATORS_KEY } from '../protocols/bft/constants.js'
import type { PeerPolicy, PeerStanding } from '../lib/peer-policy.js'
import {
  ADMISSION_KEY, ALLOW_PREFIX, REVOKED_PREFIX, parseAdmissionSetting, parseAllowEntry, parseRevokedEntry,
  type AdmissionMode, type AllowEntry, type RevokedEntry
} from './admission-values.js'

interface Snapshot {
  mode: AdmissionMode
  problem?: string
  inline: Set<string>
  core: Set<string>
  allow: Map<string, AllowEntry | null>
  revoked: Map<string, RevokedEntry & { height: number }>
  /** Old id → the hand-over that retires it. */
  handovers: Map<string, { to: string, graceUntil: number, cutoff: Record<string, number>, height: number }>
}

export interface AdmissionListing {
  mode: AdmissionMode
  problem?: string
  height: number
  allowed: Array<{ peerId: string, source: 'genesis-list' | 'validator' | 'admin' | 'entry', regions?: string[], token?: string, replaces?: string, height?: number }>
  revoked: Array<{ peerId: string, reason: string, height: number, kind: 'revoked' | 'rotated', replacedBy?: string, graceUntil?: number }>
}

export class AdmissionPolicyView implements PeerPolicy {
  private snap?: Snapshot
  private readonly listeners = new Set<() => void>()
  private graceTimer?: ReturnType<typeof setTimeout>

  constructor (private readonly critical: CriticalConfig, private readonly now: () => number = Date.now) {
    critical.onChange(c => {
      if (c.key === ADMISSION_KEY || c.key.startsWith(ALLOW_PREFIX) || c.key.startsWith(REVOKED_PREFIX) || c.key === VALIDATORS_KEY || c.key === ADMINS_KEY) {
        this.snap = undefined
        this.read() // re-arms the grace timer
        this.changed()
      }
    })
  }

  standing (peer: string, region?: string): PeerStanding {
    const s = this.read()
    if (this.isRevoked(s, peer)) return 'revoked'
    if (s.mode === 'open' || s.core.has(peer) || s.inline.has(peer)) return 'admitted'
    const a = s.allow.get(peer)
    if (a === undefined || a === null) return 'not-allowed'
    if (region !== undefined && a.regions !== undefined && !a.regions.includes(region)) return 'not-allowed'
    return 'admitted'
  }

  cutoff (peer: string): Readonly<Record<string, number>> | undefined {
    const s = this.read()
    const r = s.revoked.get(peer)
    if (r !== undefined) return r.cutoff
    const h = s.handovers.get(peer)
    if (h !== undefined && this.now() >= h.graceUntil) return h.cutoff
    return undefined
  }

  explain (peer: string): string {
    const s = this.read()
    const r = s.revoked.get(peer)
    if (r !== undefined) return `revoked at critical height ${r.height}${r.reason !== '' ? `: ${r.reason}` : ''}`
    const h = s.handovers.get(peer)
    if (h !== undefined && this.now() >= h.graceUntil) return `its key was rotated to ${h.to} (grace ended ${new Date(h.graceUntil).toISOString()})`
    if (s.mode === 'open') return 'admission is open'
    if (s.core.has(peer)) return 'a validator or admin of the network'
    if (s.inline.has(peer)) return 'on the allowlist of critical key admission'
    const a = s.allow.get(peer)
    if (a === null) return `its ${ALLOW_PREFIX}${peer} entry cannot be read, so it is not admitted`
    if (a !== undefined) return a.regions !== undefined ? `allowed in region${a.regions.length === 1 ? '' : 's'} ${a.regions.join(', ')}` : 'allowed'
    return `not on the network's allowlist (mycel admission allow ${peer})`
  }

  height (): number { return this.critical.height() }

  onChange (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  mode (): AdmissionMode { return this.read().mode }

  /** Would `peer` be admitted under an allowlist with today's entries (whatever the mode)? Regions aside. */
  onAllowlist (peer: string): boolean {
    const s = this.read()
    if (this.isRevoked(s, peer)) return false
    const a = s.allow.get(peer)
    return s.core.has(peer) || s.inline.has(peer) || (a !== undefined && a !== null)
  }

  /** Everything the policy names, for `mycel admission list`. */
  list (): AdmissionListing {
    const s = this.read()
    const allowed: AdmissionListing['allowed'] = []
    const seen = new Set<string>()
    const validators = idsOf(this.critical.get(VALIDATORS_KEY)?.value)
    const add = (e: AdmissionListing['allowed'][number]): void => { if (!seen.has(e.peerId)) { seen.add(e.peerId); allowed.push(e) } }
    for (const id of validators) add({ peerId: id, source: 'validator' })
    for (const id of s.core) add({ peerId: id, source: 'admin' })
    for (const id of s.inline) add({ peerId: id, source: 'genesis-list' })
    for (const [id, a] of s.allow) {
      if (a === null) continue
      add({ peerId: id, source: 'entry', ...(a.regions !== undefined ? { regions: a.regions } : {}), ...(a.token !== undefined ? { token: a.token } : {}), ...(a.replaces !== undefined ? { replaces: a.replaces } : {}), height: this.critical.get(ALLOW_PREFIX + id)?.height })
    }
    const revoked: AdmissionListing['revoked'] = [...s.revoked].map(([peerId, r]) => ({ peerId, reason: r.reason, height: r.height, kind: 'revoked' as const }))
    for (const [peerId, h] of s.handovers) {
      if (!s.revoked.has(peerId)) revoked.push({ peerId, reason: `key rotated to ${h.to}`, height: h.height, kind: 'rotated', replacedBy: h.to, graceUntil: h.graceUntil })
    }
    return { mode: s.mode, ...(s.problem !== undefined ? { problem: s.problem } : {}), height: this.critical.height(), allowed: allowed.filter(a => this.standing(a.peerId) !== 'revoked'), revoked }
  }

  private isRevoked (s: Snapshot, peer: string): boolean {
    if (s.revoked.has(peer)) return true
    const h = s.handovers.get(peer)
    return h !== undefined && this.now() >= h.graceUntil
  }

  private changed (): void {
    for (const l of this.listeners) {
      try { l() } catch { /* a listener's failure is its own */ }
    }
  }

  private read (): Snapshot {
    if (this.snap !== undefined) return this.snap
    const s: Snapshot = { mode: 'allowlist', inline: new Set(), core: new Set(), allow: new Map(), revoked: new Map(), handovers: new Map() }
    try {
      const setting = parseAdmissionSetting(this.critical.get(ADMISSION_KEY)?.value ?? null)
      s.mode = setting.mode
      for (const id of setting.allow) s.inline.add(id)
    } catch (err) {
      s.problem = `committed ${ADMISSION_KEY} cannot be read, so only validators, admins and allow entries are admitted: ${(err as Error).message}`
    }
    for (const id of idsOf(this.critical.get(VALIDATORS_KEY)?.value)) s.core.add(id)
    for (const id of idsOf(this.critical.get(ADMINS_KEY)?.value)) s.core.add(id)
    for (const v of this.critical.entries()) {
      if (v.key.startsWith(ALLOW_PREFIX)) {
        const id = v.key.slice(ALLOW_PREFIX.length)
        let a: AllowEntry | null
        try { a = parseAllowEntry(v.value) } catch { a = null }
        s.allow.set(id, a)
        if (a?.replaces !== undefined && a.graceUntil !== undefined) {
          s.handovers.set(a.replaces, { to: id, graceUntil: a.graceUntil, cutoff: a.cutoff ?? {}, height: v.height })
        }
      } else if (v.key.startsWith(REVOKED_PREFIX)) {
        let r: RevokedEntry
        try { r = parseRevokedEntry(v.value) } catch { r = { reason: 'unreadable revocation', cutoff: {} } }
        s.revoked.set(v.key.slice(REVOKED_PREFIX.length), { ...r, height: v.height })
      }
    }
    this.snap = s
    this.armGraceTimer(s)
    return s
  }

  /** A hand-over's grace ending changes standings without a commit: tell the listeners then. */
  private armGraceTimer (s: Snapshot): void {
    clearTimeout(this.graceTimer)
    const now = this.now()
    let next = Infinity
    for (const h of s.handovers.values()) if (h.graceUntil > now && h.graceUntil < next) next = h.graceUntil
    if (next === Infinity) return
    // setTimeout's ceiling is ~24.8 days; grace is capped at a day (MAX_GRACE_MS).
    this.graceTimer = setTimeout(() => { this.snap = undefined; this.changed() }, Math.min(next - now + 5, 2 ** 31 - 1))
    this.graceTimer.unref?.()
  }
}

function idsOf (value: string | undefined): string[] {
  if (value === undefined) return []
  try {
    const ids: unknown = JSON.parse(value)
    return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : []
  } catch { return [] }
}
