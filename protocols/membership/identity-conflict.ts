/**
 * Two processes announcing one peer id: a copied identity key running on
 * another data dir. Neither can tell from its own key; the records give it
 * away (memberlist logs the same case as "Conflicting address"):
 *
 *  - each process may see records about itself (alive, or a `left` it never
 *    announced) that it never signed: signed while it runs, or, for a copy
 *    started after the original, the original's records at incarnations its
 *    own runs never reached, from other addresses;
 *  - everyone else may see two different records of the member at one
 *    incarnation (each process signs its own) or, once the two refute each
 *    other, the member's addresses flip back to the set they had just left.
 *
 * Pure rules over the state table's data; the table reports what they find
 * and ConflictReporter makes it loud.
 */
import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import { equals as bytesEqual } from 'uint8arrays/equals'
import type { AliveBody, UpdateBody } from './messages.js'

export interface IdentityConflict {
  peerId: string
  /** `self`: records about us we never signed; `member`: one member's records alternate between two address sets. */
  kind: 'self' | 'member'
  /** The two address sets seen: ours (or the earlier one) first. */
  addrs: [string[], string[]]
  /** The incarnations those records carried. */
  incarnations: [number, number]
}

/** The address set a member advertised before its current one, remembered until `until` (local clock). */
export interface PreviousAddrs { addrs: string[], until: number }

export function sameAddrs (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every(x => b.includes(x))
}

/** What the self check needs to know about us. */
export interface SelfView {
  peerId: string
  /** Our current address set and incarnation. */
  addrs: string[]
  incarnation: number
  /** The incarnation this process started at: above anything an earlier run of this data dir signed (incarnation-store.ts). */
  startIncarnation: number
  /** Local clock when this process started. */
  startedAt: number
  /** Bytes of the alive record we currently hold for ourselves. */
  current: Uint8Array
  /** Address sets we announced since we started (our own older records carry one of them). */
  announced: readonly string[][]
  leaving: boolean
}

/**
 * A verified record about ourselves that is not the one we hold. Ours, and
 * no conflict: an older alive record of this run (addresses we announced),
 * the leave we are announcing, or a record of an earlier run (signed before
 * we started, below our starting incarnation; or at or above it with our
 * addresses, when the incarnation file was lost). Anything else was signed
 * by another process holding our key: while we run and not by us, or
 * before we started at an incarnation our runs never reached with addresses
 * that are not ours (the original, seen by a copy started after it).
 */
export function selfConflict (self: SelfView, u: { body: UpdateBody, raw: { b: Uint8Array } }): IdentityConflict | undefined {
  const body = u.body
  if ((body.t !== 'alive' && body.t !== 'left') || body.id !== self.peerId) return undefined
  if (bytesEqual(u.raw.b, self.current)) return undefined
  if (body.t === 'left' && self.leaving) return undefined
  const ourAddrs = body.t === 'alive' && self.announced.some(a => sameAddrs(a, body.addrs))
  if (body.t === 'alive' && body.inc < self.incarnation && ourAddrs) return undefined
  const duringOurRun = body.ts >= self.startedAt
  const beforeUsElsewhere = body.t === 'alive' && body.inc >= self.startIncarnation && !ourAddrs
  if (!duringOurRun && !beforeUsElsewhere) return undefined
  return { peerId: self.peerId, kind: 'self', addrs: [[...self.addrs], body.t === 'alive' ? [...body.addrs] : []], incarnations: [self.incarnation, body.inc] }
}

/**
 * Two different verified alive records of one member at one incarnation: a
 * process signs each incarnation once, so two processes hold the key.
 */
export function sameIncarnationConflict (held: { body: AliveBody, raw: { b: Uint8Array } }, u: { body: AliveBody, raw: { b: Uint8Array } }): IdentityConflict | undefined {
  if (u.body.id !== held.body.id || u.body.inc !== held.body.inc || bytesEqual(u.raw.b, held.raw.b)) return undefined
  return { peerId: u.body.id, kind: 'member', addrs: [[...held.body.addrs], [...u.body.addrs]], incarnations: [held.body.inc, u.body.inc] }
}

/**
 * A newer alive record of a member: a conflict if its addresses go back to
 * the set the member left less than the window ago. Returns the conflict (if
 * any) and what to remember for the next record.
 */
export function memberConflict (cur: { addrs: string[], incarnation: number }, previous: PreviousAddrs | undefined, body: AliveBody, now: number, windowMs: number):
{ conflict?: IdentityConflict, previous: PreviousAddrs | undefined } {
  if (sameAddrs(cur.addrs, body.addrs)) return { previous }
  const flippedBack = previous !== undefined && now < previous.until && sameAddrs(previous.addrs, body.addrs)
  return {
    conflict: flippedBack ? { peerId: body.id, kind: 'member', addrs: [[...cur.addrs], [...body.addrs]], incarnations: [cur.incarnation, body.inc] } : undefined,
    previous: { addrs: [...cur.addrs], until: now + windowMs }
  }
}

/** Address sets of our own records remembered for the self check (we rarely change addresses). */
const ANNOUNCED_MAX = 8

/**
 * The state table's identity bookkeeping: which address sets we announced,
 * which conflicting records were already reported (a replayed one is
 * reported, and passed on, once).
 */
export class IdentityWatch {
  private readonly announced: string[][] = []
  private readonly seen = new Map<string, string>()

  constructor (private readonly selfId: string, private readonly start: { at: number, incarnation: number }, private readonly windowMs: number,
    private readonly maxTracked: number, private readonly onConflict?: (c: IdentityConflict) => void) {}

  /** We signed a record with these addresses. */
  announce (addrs: string[]): void {
    if (this.announced.some(a => sameAddrs(a, addrs))) return
    this.announced.push([...addrs])
    if (this.announced.length > ANNOUNCED_MAX) this.announced.shift()
  }

  /** A verified record about us; true if it is a new conflict. */
  checkSelf (self: Pick<SelfView, 'addrs' | 'incarnation' | 'current' | 'leaving'>, u: { body: UpdateBody, raw: { b: Uint8Array } }): boolean {
    const c = selfConflict({ ...self, peerId: this.selfId, startedAt: this.start.at, startIncarnation: this.start.incarnation, announced: this.announced }, u)
    return c !== undefined && this.report(c, u.raw.b)
  }

  /** A verified alive record of a member at the incarnation of the one we hold; true if it is a new conflict. */
  checkSameIncarnation (held: { body: AliveBody, raw: { b: Uint8Array } }, u: { body: AliveBody, raw: { b: Uint8Array } }): boolean {
    const c = sameIncarnationConflict(held, u)
    return c !== undefined && this.report(c, u.raw.b)
  }

  /** A newer alive record of a member replacing `cur`; returns what to remember for the next one. */
  checkMove (cur: { addrs: string[], incarnation: number }, previous: PreviousAddrs | undefined, body: AliveBody, now: number): PreviousAddrs | undefined {
    const r = memberConflict(cur, previous, body, now, this.windowMs)
    if (r.conflict !== undefined) this.report(r.conflict, new TextEncoder().encode(`${body.inc}:${body.addrs.join(',')}`))
    return r.previous
  }

  private report (c: IdentityConflict, record: Uint8Array): boolean {
    const key = createHash('sha256').update(record).digest('base64')
    if (this.seen.get(c.peerId) === key) return false
    this.seen.delete(c.peerId)
    this.seen.set(c.peerId, key)
    if (this.seen.size > this.maxTracked) this.seen.delete(this.seen.keys().next().value as string)
    this.onConflict?.(c)
    return true
  }
}

/**
 * Logs a conflict loudly (error, naming the peer id and both addresses) and
 * counts it. Nothing else shows it: the twins keep refuting each other, and
 * it recurs at gossip speed, so one line per peer per `logEveryMs`.
 */
export class ConflictReporter {
  private readonly logged = new Map<string, number>()

  constructor (private readonly log: Logger, private readonly counter: Counter<'kind'>, private readonly logEveryMs: number, private readonly maxTracked: number) {}

  report (c: IdentityConflict, now = Date.now()): void {
    this.counter.inc({ kind: c.kind })
    if (now - (this.logged.get(c.peerId) ?? -Infinity) < this.logEveryMs) return
    this.logged.delete(c.peerId)
    this.logged.set(c.peerId, now)
    if (this.logged.size > this.maxTracked) this.logged.delete(this.logged.keys().next().value as string)
    const [a, b] = c.addrs.map(x => x.length > 0 ? x.join(',') : '(a leave it never announced)')
    this.log.error({ peer: c.peerId, kind: c.kind, addrs: c.addrs, incarnations: c.incarnations },
      c.kind === 'self'
        ? `identity conflict: another process runs with this agent's identity ${c.peerId}, at ${b} (this one: ${a}); each agent needs its own data dir and key (a copied identity.key?)`
        : `identity conflict: peer ${c.peerId} is announced by two processes, at ${a} and at ${b} (a copied identity key?)`)
  }
}
