/**
 * When membership declared each member dead, left or revoked, in this
 * node's view and by its clock: what `leaseEndSeen` (lease.ts) needs to end
 * a gone holder's lease `contactLapseMs` after the declaration. Noted from
 * the member list on every membership event; a member alive or suspect again
 * is forgotten, and so is a reaped one (its leases then lapse by expiry).
 */
import type { Member } from '../membership/types.js'

export class GoneMembers {
  private readonly since = new Map<string, number>()

  /** Note the states of `members` at `now`: the first time a member is seen gone is its declaration. */
  note (members: Member[], now: number): void {
    const listed = new Set<string>()
    for (const m of members) {
      listed.add(m.peerId)
      if (m.state === 'alive' || m.state === 'suspect') this.since.delete(m.peerId)
      else if (!this.since.has(m.peerId)) this.since.set(m.peerId, now)
    }
    for (const id of this.since.keys()) if (!listed.has(id)) this.since.delete(id)
  }

  /** When `peerId` was declared gone; undefined while it is not (or was reaped). */
  at (peerId: string): number | undefined {
    return this.since.get(peerId)
  }

  clear (): void {
    this.since.clear()
  }
}
