/**
 * Two processes announcing one peer id: a copied identity key running on
 * another data dir. Neither can tell from its own key; the records give it
 * away (memberlist logs the same case as "Conflicting address"):
 *
 *  - each process sees records about itself (alive, or a `left` it never
 *    announced) that beat its incarnation and were signed after it started,
 *    and refutes them, which the other refutes in turn;
 *  - everyone else sees that member's advertised addresses flip back to the
 *    set they had just left, over and over.
 *
 * Pure rules over the state table's data; the table reports what they find
 * and ConflictReporter makes it loud.
 */
import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
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

/**
 * A record about ourselves that beats our incarnation (the caller checks
 * that). We never sign above our own incarnation, so it is either ours from
 * before a restart that lost the incarnation (signed before we started: no
 * conflict) or, signed since, another process's holding our key.
 */
export function selfConflict (self: { peerId: string, addrs: string[], incarnation: number }, startedAt: number, body: UpdateBody): IdentityConflict | undefined {
  if ((body.t !== 'alive' && body.t !== 'left') || body.ts < startedAt) return undefined
  return { peerId: self.peerId, kind: 'self', addrs: [[...self.addrs], body.t === 'alive' ? [...body.addrs] : []], incarnations: [self.incarnation, body.inc] }
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
