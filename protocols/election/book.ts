/**
 * Every region's best known lease, fed by gossip, DHT reads and our own
 * claims. "Best" follows the record order of lease.ts, so every node that has
 * seen the same records agrees on it.
 */
import { compareLeases, type SignedLease } from './lease.js'

/** Bound on (region, role) pairs remembered: regions x roles, with room to spare. */
export const MAX_BOOK_ENTRIES = 20_000

export class LeaseBook {
  private readonly best = new Map<string, SignedLease>()

  /** True when `sl` became the best lease of its (region, role). */
  observe (sl: SignedLease): boolean {
    const key = `${sl.lease.region}/${sl.lease.role}`
    const cur = this.best.get(key)
    if (cur !== undefined && compareLeases(sl.lease, cur.lease) <= 0) return false
    if (cur === undefined && this.best.size >= MAX_BOOK_ENTRIES) return false
    this.best.set(key, sl)
    return true
  }

  get (region: string, role: string): SignedLease | undefined {
    return this.best.get(`${region}/${role}`)
  }

  maxTerm (region: string, role: string): number {
    return this.get(region, role)?.lease.term ?? 0
  }

  entries (): SignedLease[] {
    return [...this.best.values()]
  }

  regions (): string[] {
    return [...new Set([...this.best.values()].map(sl => sl.lease.region))]
  }
}
