/**
 * The election's upkeep (protocols/election/dht-upkeep.ts) on a virtual clock: a role whose gossip went quiet
 * is repaired from a connected member's book when that member has newer leases, and read from the DHT only
 * when it has not. The DHT read walks to the peers closest to the role's key and dials them; the member is one
 * request on a link already held.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { LeaseBook, type Lease, type SignedLease } from '../../../protocols/election/index.js'
import { DhtUpkeep } from '../../../protocols/election/dht-upkeep.js'
import { VirtualClock } from '../../sim/clock.js'
import { CFG } from './sim.js'

const START = 1_700_000_000_000
const ROLES = ['network', 'update', 'config']

const signed = (lease: Lease): SignedLease => ({ lease, record: new Uint8Array() })
const lease = (role: string, issuedAt: number, holder = 'holder-peer'): SignedLease =>
  signed({ v: 1, region: 'eu', role, holder, term: 1, issuedAt, expiresAt: issuedAt + CFG.leaseMs })

interface Run { reads: string[], asks: number }

/**
 * One upkeep over a book whose roles were last renewed at `issued` (ms before the first refresh), and a
 * member (or none) whose book holds `member`. Returns the DHT reads and asks of the first refresh.
 */
async function firstRefresh (issued: Record<string, number>, member: SignedLease[] | undefined, viewStillMs?: number): Promise<Run> {
  const clock = new VirtualClock(START)
  const uninstall = clock.install()
  const controller = new AbortController()
  const book = new LeaseBook()
  const run: Run = { reads: [], asks: 0 }
  // The first refresh runs one dhtRefreshMs after the start (no jitter here).
  const refreshAt = START + CFG.dhtRefreshMs
  for (const [role, ago] of Object.entries(issued)) book.observe(lease(role, refreshAt - ago))
  const upkeep = new DhtUpkeep({
    config: CFG,
    region: 'eu',
    roles: ROLES,
    book,
    now: () => clock.now(),
    jittered: (ms) => ms,
    resolve: async (_region, role) => { run.reads.push(role) },
    ask: member === undefined
      ? undefined
      : async () => { run.asks++; for (const sl of member) book.observe(sl) },
    lastViewChange: viewStillMs === undefined ? undefined : () => clock.now() - viewStillMs
  })
  try {
    upkeep.start(controller.signal)
    await clock.tickAsync(CFG.dhtRefreshMs + 1)
    return run
  } finally {
    controller.abort()
    upkeep.stop()
    uninstall()
  }
}

describe('election upkeep: a quiet role asks a member before the DHT', () => {
  const quiet = 2 * CFG.renewIntervalMs + 1_000
  const fresh = CFG.renewIntervalMs / 2

  it('a member with newer renewals repairs the book: no DHT read', async () => {
    const run = await firstRefresh({ network: quiet, update: fresh }, [lease('network', START + CFG.dhtRefreshMs - fresh)])
    assert.equal(run.asks, 1)
    assert.deepEqual(run.reads, [])
  })

  it('a member as stale as this node: the DHT is read for the roles still quiet, and only those', async () => {
    const run = await firstRefresh({ network: quiet, update: quiet, config: fresh }, [lease('update', START + CFG.dhtRefreshMs - fresh)])
    assert.equal(run.asks, 1)
    assert.deepEqual(run.reads, ['network'])
  })

  it('nothing quiet: neither a member nor the DHT is asked', async () => {
    const run = await firstRefresh({ network: fresh, update: fresh }, [])
    assert.equal(run.asks, 0)
    assert.deepEqual(run.reads, [])
  })

  it('without lease sync (no ask), a quiet role is read from the DHT at once', async () => {
    const run = await firstRefresh({ network: quiet }, undefined)
    assert.deepEqual(run.reads, ['network'])
  })

  it('while the view moves, a quiet role whose lease is in force is asked about but not read', async () => {
    const moving = CFG.dhtRefreshMs - 1
    assert.ok(quiet < CFG.leaseMs, 'the profile has leases still in force when quiet')
    const run = await firstRefresh({ network: quiet, update: quiet }, [], moving)
    assert.equal(run.asks, 1)
    assert.deepEqual(run.reads, [])
    // Still for a refresh period: read as ever.
    assert.deepEqual((await firstRefresh({ network: quiet, update: quiet }, [], CFG.dhtRefreshMs)).reads, ['network', 'update'])
  })

  it('while the view moves, a quiet role whose lease has lapsed is read', async () => {
    const run = await firstRefresh({ network: quiet, update: CFG.leaseMs, config: CFG.leaseMs - 1 }, [], 0)
    assert.deepEqual(run.reads, ['update'])
  })

  it('over generated books: the DHT is read for exactly the roles still quiet after the member\'s answer', async () => {
    const age = fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 3 * CFG.leaseMs }))
    await fc.assert(fc.asyncProperty(fc.tuple(age, age, age), fc.tuple(age, age, age), async (own, theirs) => {
      const issued: Record<string, number> = {}
      const member: SignedLease[] = []
      ROLES.forEach((role, i) => {
        if (own[i] !== undefined) issued[role] = own[i]
        const t = theirs[i]
        if (t !== undefined) member.push(lease(role, START + CFG.dhtRefreshMs - t))
      })
      const run = await firstRefresh(issued, member)
      const isQuiet = (ago: number | undefined): boolean => ago !== undefined && ago > 2 * CFG.renewIntervalMs
      const asked = ROLES.some((_, i) => isQuiet(own[i]))
      // After the member's answer (if asked) the book holds the newest renewal of each role, own or the
      // member's; a role is read if it is known and that renewal is older than two renewal intervals.
      const expected = ROLES.filter((_, i) => {
        const known = [own[i], asked ? theirs[i] : undefined].filter((a): a is number => a !== undefined)
        return known.length > 0 && isQuiet(Math.min(...known))
      })
      assert.equal(run.asks, asked ? 1 : 0)
      assert.deepEqual(run.reads, expected)
    }), { numRuns: 60 })
  })
})
