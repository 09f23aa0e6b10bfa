/**
 * The SWIM state machine, free of I/O: a table of members and the rules that
 * decide which update wins (memberlist's state.go aliveNode / suspectNode /
 * deadNode, plus a distinct `left`). Callers verify signatures; the table
 * only orders verified updates. Effects that need signing (refuting a
 * suspicion about ourselves, declaring a member dead when our suspicion
 * expires) are handed out through hooks; time comes from an injected clock.
 *
 * Ordering, with `cur` our incarnation for the member:
 *   alive   inc >  cur                          wins over anything (refutation, restart)
 *   suspect inc >= cur and state alive|suspect  wins; same inc while suspect = confirmation
 *   dead    inc >= cur and state alive|suspect  wins
 *   left    inc >= cur and state != left        wins (also over dead: the member said so itself)
 * Anything else is stale. Suspect/dead about an unknown member is ignored.
 *
 * Two processes sharing one identity (a copied key on another data dir)
 * show up in the records this table orders (identity-conflict.ts); they are
 * reported through `onConflict`.
 */
import { createHash } from 'node:crypto'
import type { Member, MemberState, MembershipEvents } from './types.js'
import type { AliveBody, DeadBody, LeftBody, SignedUpdate, SuspectBody, Update, UpdateBody } from './messages.js'
import type { MembershipConfig } from './constants.js'
import { suspicionTimeoutMs } from './constants.js'
import { Suspicion } from './suspicion.js'
import type { Clock } from '../../lib/clock.js'
import { equals as bytesEqual } from 'uint8arrays/equals'
import { IdentityWatch, type IdentityConflict, type PreviousAddrs } from './identity-conflict.js'

export type { IdentityConflict } from './identity-conflict.js'

/** identityConflictWindowMs when a caller's config leaves it out (see constants.ts). */
const DEFAULT_CONFLICT_WINDOW_MS = 60_000

export type Verdict = 'news' | 'confirm' | 'refute' | 'stale' | 'unknown' | 'full'
export type ApplyResult = 'applied' | 'confirmed' | 'refuted' | 'stale' | 'unknown' | 'full'

type Claim = Update<SuspectBody | DeadBody | LeftBody> | { body: DeadBody, raw: undefined }

interface Entry {
  member: Member
  alive: Update<AliveBody>
  /** The address set this member advertised before its current one (identity-conflict.ts). */
  previousAddrs?: PreviousAddrs
  claim?: Claim
  suspicion?: Suspicion
  refusedSuspicion?: boolean
  /** When the member entered its current state (local clock). */
  since: number
  /** When it (re)joined: first seen, or back from dead/left (local clock). */
  joinedAt: number
}

export interface TableHooks {
  /** Own incarnation was raised to `incarnation` to refute; sign and spread a new alive record. */
  onRefute: (incarnation: number, reason: UpdateBody) => void
  /** Our suspicion of `id` expired: sign and spread dead{id, inc, from: self}. */
  onSuspicionTimeout: (id: string, incarnation: number) => void
  /**
   * An update changed our view and should be passed on (piggyback); `drive`
   * is the caller's word to apply(): whether this node has to spread it
   * itself (broadcast-queue.ts).
   */
  onNews: (member: string, raw: SignedUpdate, drive: boolean) => void
  emit: (event: keyof MembershipEvents, member: Member) => void
  /** Evidence that two processes run with one identity (see IdentityConflict). */
  onConflict?: (conflict: IdentityConflict) => void
  /** `id`'s entry left the table (evicted, reaped): what was stale against it may be news one day. */
  onForget?: (id: string) => void
  /**
   * How many members probe `id` (its observers on the monitoring rings,
   * overlay.ts). Only they suspect it on their own, so a suspicion can get
   * at most this many less one independent confirmations; without the hook
   * every member may (memberlist's random probing).
   */
  observers?: (id: string) => number
}

export type TableConfig = Pick<MembershipConfig, 'suspicionMult' | 'suspicionMaxTimeoutMult' | 'probeIntervalMs' | 'refusedSuspicionMs' | 'suspectMaxAgeMs' | 'reapAfterMs' | 'tombstoneMs' | 'maxMembers'> &
Partial<Pick<MembershipConfig, 'identityConflictWindowMs'>>

export class MemberTable {
  private readonly entries = new Map<string, Entry>()
  private readonly tombstones = new Map<string, { inc: number, until: number }>()
  /** Peers the admission policy revoked: their records are stale for ever (bounded by the policy, which names them). */
  private readonly revokedIds = new Set<string>()
  /** Send time of the latest probe of ours a member answered (`markContact`). */
  private contactAt: number | undefined
  private selfEntry: Entry
  private selfInc: number
  private readonly startedAt: number
  private readonly identity: IdentityWatch

  /**
   * @param healthScale multiplier for timeout-based suspicion windows, from our Lifeguard local health
   * (score + 1); 1 when healthy. Beyond memberlist: a node that knows it is starved does not trust its own
   * timers to declare others dead. Refusal-based suspicions are not scaled (a refusal is not a timing).
   */
  constructor (private readonly cfg: TableConfig, private readonly clock: Clock, self: Update<AliveBody>, private readonly hooks: TableHooks,
    private readonly healthScale: () => number = () => 1) {
    this.selfInc = self.body.inc
    this.selfEntry = { member: toMember(self.body, 'alive', clock.now()), alive: self, since: clock.now(), joinedAt: clock.now() }
    this.startedAt = clock.now()
    this.identity = new IdentityWatch(this.selfId, { at: this.startedAt, incarnation: self.body.inc }, cfg.identityConflictWindowMs ?? DEFAULT_CONFLICT_WINDOW_MS, cfg.maxMembers, hooks.onConflict)
    this.identity.announce(self.body.addrs)
  }

  get selfId (): string { return this.selfEntry.member.peerId }
  get selfIncarnation (): number { return this.selfInc }
  get leaving (): boolean { return this.selfEntry.member.state === 'left' }

  /** Decide what an update would do, without changing anything (run before the signature check). */
  classify (body: UpdateBody): Verdict {
    if (body.t === 'suspect' && this.clock.now() - body.ts > this.cfg.suspectMaxAgeMs) return 'stale'
    if (body.id === this.selfId) return this.classifySelf(body)
    if (this.revokedIds.has(body.id)) return 'stale'
    const e = this.entries.get(body.id)
    const cur = e?.member.incarnation ?? -1
    switch (body.t) {
      case 'alive': {
        if (e === undefined) {
          const tomb = this.tombstones.get(body.id)
          if (tomb !== undefined && body.inc <= tomb.inc) return 'stale'
          return this.entries.size + 1 >= this.cfg.maxMembers ? 'full' : 'news'
        }
        return body.inc > cur ? 'news' : 'stale'
      }
      case 'suspect': {
        if (e === undefined) return 'unknown'
        if (body.inc < cur || e.member.state === 'dead' || e.member.state === 'left') return 'stale'
        if (e.member.state === 'suspect' && body.inc === cur) return 'confirm'
        return 'news'
      }
      case 'dead': {
        if (e === undefined) return 'unknown'
        if (body.inc < cur || e.member.state === 'dead' || e.member.state === 'left') return 'stale'
        return 'news'
      }
      case 'left': {
        if (e === undefined) return 'unknown'
        if (body.inc < cur || e.member.state === 'left') return 'stale'
        return 'news'
      }
    }
  }

  private classifySelf (body: UpdateBody): Verdict {
    switch (body.t) {
      // Our own signed records: a higher one than ours means we lost our
      // incarnation (wiped data dir), so jump above it.
      case 'alive':
      case 'left':
        return body.inc > this.selfInc ? 'refute' : 'stale'
      case 'suspect':
      case 'dead':
        if (this.leaving || body.inc < this.selfInc) return 'stale'
        return 'refute'
    }
  }

  /**
   * Apply an update whose signature the caller has verified; news is passed
   * to onNews with `drive` (whether this node has to spread it itself).
   */
  apply (u: Update, drive = true): ApplyResult {
    const verdict = this.classify(u.body)
    switch (verdict) {
      case 'stale': case 'unknown': case 'full':
        return verdict
      case 'refute':
        this.observe(u)
        this.selfInc = Math.max(this.selfInc, u.body.inc) + 1
        this.hooks.onRefute(this.selfInc, u.body)
        return 'refuted'
      case 'confirm':
        return this.confirm(u as Update<SuspectBody>, drive)
      case 'news':
        break
    }
    switch (u.body.t) {
      case 'alive': this.applyAlive(u as Update<AliveBody>); break
      case 'suspect': this.applySuspect(u as Update<SuspectBody>); break
      case 'dead': this.applyDeadOrLeft(u as Update<DeadBody>); break
      case 'left': this.applyDeadOrLeft(u as Update<LeftBody>); break
    }
    this.hooks.onNews(u.body.id, u.raw, drive)
    return 'applied'
  }

  private applyAlive (u: Update<AliveBody>): void {
    const now = this.clock.now()
    const e = this.entries.get(u.body.id)
    if (e === undefined) {
      this.tombstones.delete(u.body.id)
      const entry: Entry = { member: toMember(u.body, 'alive', now), alive: u, since: now, joinedAt: now }
      this.entries.set(u.body.id, entry)
      this.hooks.emit('member:join', { ...entry.member })
      return
    }
    const prev = e.member.state
    e.previousAddrs = this.identity.checkMove(e.member, e.previousAddrs, u.body, now)
    this.stopSuspicion(e)
    e.alive = u
    e.claim = undefined
    e.member = toMember(u.body, 'alive', now)
    if (prev !== 'alive') e.since = now
    if (prev === 'dead' || prev === 'left') e.joinedAt = now
    if (prev === 'left') this.hooks.emit('member:join', { ...e.member })
    else if (prev !== 'alive') this.hooks.emit('member:alive', { ...e.member })
    this.hooks.emit('member:update', { ...e.member })
  }

  /**
   * Cheap, before any signature check: is this an alive/left record that
   * ordering calls stale yet differs from the one we hold (about us, or a
   * member's at the same incarnation)? Only such records can show two
   * processes with one identity; callers verify them and pass them to observe().
   */
  differsFromHeld (body: UpdateBody, raw: SignedUpdate): boolean {
    if (body.t !== 'alive' && body.t !== 'left') return false
    if (body.id === this.selfId) return !bytesEqual(raw.b, this.selfEntry.alive.raw.b)
    const held = this.entries.get(body.id)?.alive
    return body.t === 'alive' && held !== undefined && held.body.inc === body.inc && !bytesEqual(raw.b, held.raw.b)
  }

  /** Check a verified record for an identity conflict; true if it is a new one (worth passing on, so the twins learn it). */
  observe (u: Update): boolean {
    if (u.body.id === this.selfId) {
      return this.identity.checkSelf({ addrs: this.selfEntry.member.addrs, incarnation: this.selfInc, current: this.selfEntry.alive.raw.b, leaving: this.leaving }, u)
    }
    const held = this.entries.get(u.body.id)?.alive
    return u.body.t === 'alive' && held !== undefined && this.identity.checkSameIncarnation(held, u as Update<AliveBody>)
  }

  private applySuspect (u: Update<SuspectBody>): void {
    const e = this.entries.get(u.body.id) as Entry
    this.stopSuspicion(e)
    this.setState(e, 'suspect', u.body.inc, u)
    this.startSuspicion(e, u.body)
    this.hooks.emit('member:suspect', { ...e.member })
    this.hooks.emit('member:update', { ...e.member })
  }

  private confirm (u: Update<SuspectBody>, drive: boolean): ApplyResult {
    const e = this.entries.get(u.body.id) as Entry
    if (u.body.refused && e.refusedSuspicion !== true) {
      // First-hand proof that nothing listens any more: switch to the short window.
      this.stopSuspicion(e)
      e.claim = u
      this.startSuspicion(e, u.body)
      this.hooks.onNews(u.body.id, u.raw, drive)
      return 'confirmed'
    }
    if (e.suspicion?.confirm(u.body.from) === true) {
      this.hooks.onNews(u.body.id, u.raw, drive)
      return 'confirmed'
    }
    return 'stale'
  }

  private applyDeadOrLeft (u: Update<DeadBody | LeftBody>): void {
    const e = this.entries.get(u.body.id) as Entry
    this.stopSuspicion(e)
    const state = u.body.t === 'left' ? 'left' : 'dead'
    this.setState(e, state, u.body.inc, u)
    this.hooks.emit(state === 'left' ? 'member:left' : 'member:dead', { ...e.member })
    this.hooks.emit('member:update', { ...e.member })
  }

  private setState (e: Entry, state: MemberState, inc: number, claim: Claim): void {
    if (e.member.state !== state) e.since = this.clock.now()
    e.member = { ...e.member, state, incarnation: inc }
    e.claim = claim
  }

  private startSuspicion (e: Entry, body: SuspectBody): void {
    const id = body.id
    const inc = body.inc
    const n = this.estimateN()
    let k = Math.max(0, Math.round(this.cfg.suspicionMult - 2))
    if (n - 2 < k) k = 0
    // Lifeguard expects k confirmations before the minimum timeout; with
    // fewer observers than k + 1 they can never all come, and a silent
    // member would wait out the maximum (three observers a member in a
    // network of one region, against k = 3 on lan).
    const watchers = this.hooks.observers?.(id)
    if (watchers !== undefined) k = Math.min(k, Math.max(0, watchers - 1))
    const scale = Math.max(1, this.healthScale())
    let min = Math.floor(suspicionTimeoutMs(this.cfg.suspicionMult, n, this.cfg.probeIntervalMs) * scale)
    let max = Math.floor(this.cfg.suspicionMaxTimeoutMult * min)
    e.refusedSuspicion = body.refused
    if (body.refused) {
      k = 0
      min = max = this.cfg.refusedSuspicionMs
    }
    e.suspicion = new Suspicion(this.clock, body.from, k, min, max, () => { this.suspicionExpired(id, inc) })
  }

  private stopSuspicion (e: Entry): void {
    e.suspicion?.cancel()
    e.suspicion = undefined
    e.refusedSuspicion = undefined
  }

  private suspicionExpired (id: string, inc: number): void {
    const e = this.entries.get(id)
    if (e === undefined || e.member.state !== 'suspect' || e.member.incarnation !== inc) return
    e.suspicion = undefined
    const body: DeadBody = { v: 1, t: 'dead', id, inc, from: this.selfId, ts: this.clock.now() }
    this.setState(e, 'dead', inc, { body, raw: undefined })
    this.hooks.emit('member:dead', { ...e.member })
    this.hooks.emit('member:update', { ...e.member })
    this.hooks.onSuspicionTimeout(id, inc)
  }

  /**
   * Forget `id` at once, leaving a tombstone against its current records: it
   * failed admission, so whatever we learned of it second-hand goes.
   * Listeners see it die. Returns false if it was not known.
   */
  evict (id: string): boolean {
    const e = this.entries.get(id)
    if (e === undefined) return false
    this.stopSuspicion(e)
    this.entries.delete(id)
    this.tombstones.set(id, { inc: e.member.incarnation, until: this.clock.now() + this.cfg.tombstoneMs })
    this.hooks.onForget?.(id)
    const gone: Member = { ...e.member, state: 'dead' }
    this.hooks.emit('member:dead', { ...gone })
    this.hooks.emit('member:update', gone)
    return true
  }

  /**
   * Mark `id` revoked (the admission policy cut it off): it stays listed as
   * `revoked`, is never reaped, and no record about it, whoever signed it,
   * changes that. Listeners see it die. Returns false if it already was.
   */
  revoke (id: string): boolean {
    if (id === this.selfId || this.revokedIds.has(id)) return false
    this.revokedIds.add(id)
    const e = this.entries.get(id)
    if (e === undefined) return true
    this.stopSuspicion(e)
    e.member = { ...e.member, state: 'revoked' }
    e.since = this.clock.now()
    this.hooks.emit('member:dead', { ...e.member })
    this.hooks.emit('member:update', { ...e.member })
    return true
  }

  isRevoked (id: string): boolean { return this.revokedIds.has(id) }

  /** Attach the signed form of a dead claim we made when our suspicion expired. */
  attachLocalDead (u: Update<DeadBody>): boolean {
    const e = this.entries.get(u.body.id)
    if (e === undefined || e.member.state !== 'dead' || e.member.incarnation !== u.body.inc || e.claim?.raw !== undefined) return false
    e.claim = u
    return true
  }

  /** Install a newly signed own alive record (after a refutation, metadata change or start). */
  setSelf (u: Update<AliveBody>): void {
    if (u.body.inc < this.selfEntry.alive.body.inc) return
    this.selfInc = Math.max(this.selfInc, u.body.inc)
    this.selfEntry = { ...this.selfEntry, member: toMember(u.body, 'alive', this.clock.now()), alive: u }
    this.identity.announce(u.body.addrs)
  }

  /** Raise own incarnation for a metadata change; returns the new value. */
  bumpSelf (): number {
    this.selfInc++
    return this.selfInc
  }

  /** Mark ourselves as left (graceful leave); the signed record goes to the cluster. */
  setSelfLeft (u: Update<LeftBody>): void {
    this.selfEntry.member = { ...this.selfEntry.member, state: 'left' }
    this.selfEntry.claim = u
  }

  /** The signed claim currently held against `id` (suspect/dead/left), if any. */
  claimOf (id: string): SignedUpdate | undefined {
    return this.entries.get(id)?.claim?.raw
  }

  /** True while `id` joined (or we started) less than `graceMs` ago. */
  inJoinGrace (id: string, graceMs: number): boolean {
    const e = this.entries.get(id)
    if (e === undefined) return false
    const now = this.clock.now()
    return now - e.joinedAt < graceMs || now - this.startedAt < graceMs
  }

  /**
   * A probe of ours sent at `sentAt` (wall clock) was answered, directly or
   * through a helper: round-trip evidence that a member heard this node then.
   * Stamped with the send time, not the time the answer is handled, so an
   * answer handled late (a paused process) proves nothing newer.
   */
  markContact (sentAt: number): void {
    if (this.contactAt === undefined || sentAt > this.contactAt) this.contactAt = sentAt
  }

  /** See `markContact`; undefined until a probe of ours was answered. */
  lastContact (): number | undefined { return this.contactAt }

  /** First-hand evidence (an ack) that `id` is alive. */
  markSeen (id: string): void {
    const e = this.entries.get(id)
    if (e !== undefined) e.member.lastSeen = this.clock.now()
  }

  self (): Member { return { ...this.selfEntry.member, lastSeen: this.clock.now() } }
  selfRecord (): Update<AliveBody> { return this.selfEntry.alive }
  get (id: string): Member | undefined {
    if (id === this.selfId) return this.self()
    const e = this.entries.get(id)
    return e === undefined ? undefined : { ...e.member }
  }

  /** Whether this view holds an entry for `id` (ourselves, or a member in any state until it is reaped). */
  holds (id: string): boolean {
    return id === this.selfId || this.entries.has(id)
  }

  /** Every member including self, dead and left ones until reaped. */
  members (): Member[] {
    return [this.self(), ...[...this.entries.values()].map(e => ({ ...e.member }))]
  }

  /** Ids of other members in `states`. */
  ids (states: MemberState[]): string[] {
    const out: string[] = []
    for (const [id, e] of this.entries) if (states.includes(e.member.state)) out.push(id)
    return out
  }

  /** Cluster size estimate for timeouts: self plus everyone not dead or left. */
  estimateN (): number {
    let n = 1
    for (const e of this.entries.values()) if (e.member.state === 'alive' || e.member.state === 'suspect') n++
    return n
  }

  countByState (): Record<MemberState, number> {
    const out: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0, revoked: 0 }
    out[this.selfEntry.member.state]++
    for (const e of this.entries.values()) out[e.member.state]++
    return out
  }

  /** Current suspicion timeout for `id` (ms from its start), for tests and diagnostics. */
  suspicionTimeoutOf (id: string): number | undefined {
    return this.entries.get(id)?.suspicion?.currentTimeoutMs()
  }

  /** Everything we know, as signed updates: each member's alive record, then its claim. */
  snapshot (): SignedUpdate[] {
    const out: SignedUpdate[] = []
    const add = (e: Entry): void => {
      out.push(e.alive.raw)
      if (e.claim?.raw !== undefined && e.claim.body.inc >= e.alive.body.inc) out.push(e.claim.raw)
    }
    add(this.selfEntry)
    for (const e of this.entries.values()) add(e)
    return out
  }

  /** sha256 over the sorted (id, incarnation, state) triples: equal digests mean equal views. */
  digest (): Uint8Array {
    const lines = this.members().map(m => `${m.peerId}:${m.incarnation}:${m.state}`).sort()
    return new Uint8Array(createHash('sha256').update(lines.join('\n')).digest())
  }

  /** Forget dead/left members after reapAfterMs (keeping a tombstone) and expire tombstones. Returns ids reaped. */
  reap (): string[] {
    const now = this.clock.now()
    const reaped: string[] = []
    for (const [id, e] of this.entries) {
      if ((e.member.state === 'dead' || e.member.state === 'left') && !this.revokedIds.has(id) && now - e.since >= this.cfg.reapAfterMs) {
        this.entries.delete(id)
        this.tombstones.set(id, { inc: e.member.incarnation, until: now + this.cfg.tombstoneMs })
        this.hooks.onForget?.(id)
        reaped.push(id)
      }
    }
    for (const [id, t] of this.tombstones) if (t.until <= now) this.tombstones.delete(id)
    while (this.tombstones.size > this.cfg.maxMembers) {
      const first = this.tombstones.keys().next().value as string
      this.tombstones.delete(first)
    }
    return reaped
  }

  /** Cancel every timer (on stop). */
  close (): void {
    for (const e of this.entries.values()) this.stopSuspicion(e)
  }
}

function toMember (b: AliveBody, state: MemberState, now: number): Member {
  return { peerId: b.id, state, incarnation: b.inc, region: b.region, roles: [...b.roles], addrs: [...b.addrs], version: b.ver, lastSeen: now }
}
