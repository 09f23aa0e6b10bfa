/**
 * The election engine on the shared simulation harness (test/sim): one
 * virtual clock for every node, installed as the global timers and Date the
 * engine uses (so "overlap" is measured exactly), gossip and DHT stores as
 * messages of the seeded network, delivered only between nodes that are up
 * and in the same partition group. ELECTION_SEED=<n> changes the seed of the
 * random crash/restart storm and of the engines' jitter (default 42);
 * ELECTION_SEEDS=<count> runs every test over seeds 1..count.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import pino from 'pino'
import {
  ElectionEngine, FencingStore, electionMetrics, pickHolder, compareTokens, decodeLease,
  type ElectionConfig, type LeaseTransport, type SignedLease, type LeaseSource, type ElectedDetail, type DemotedDetail
} from '../../protocols/election/index.js'
import type { Member } from '../../protocols/membership/types.js'
import { prng } from '../helpers/prng.js'
import { VirtualClock } from '../sim/clock.js'
import { SimNetwork } from '../sim/network.js'

const CFG: ElectionConfig = {
  leaseMs: 5_000, renewIntervalMs: 1_600, maxClockSkewMs: 200, claimSettleMs: 300, learnPeriodMs: 1_800, viewSettleMs: 500,
  dhtTimeoutMs: 3_000, dhtRefreshMs: 4_000, dhtPutIntervalMs: 12_000, provideIntervalMs: 60_000, provideSpreadMs: 1_000, jitter: 0.1
}
const ROLES = ['network', 'monitoring']
const logger = pino({ level: 'silent' })
const NET_DELAY = 5

/** What travels between nodes: a lease by gossip, or a DHT put reaching the record's holders. */
interface LeaseMsg { sl: SignedLease, source: LeaseSource }

interface Interval { node: string, role: string, term: number, start: number, end?: number }

class World {
  readonly nodes = new Map<string, SimNode>()
  readonly intervals: Interval[] = []
  readonly net: SimNetwork<LeaseMsg>
  constructor (readonly clock: VirtualClock, rand: () => number) {
    this.net = new SimNetwork<LeaseMsg>({
      clock,
      rand,
      faults: { latencyMs: [NET_DELAY, NET_DELAY] },
      describe: m => `${m.source} ${m.sl.lease.role} t${m.sl.lease.term} holder ${m.sl.lease.holder.slice(-6)}`,
      label: id => id.slice(-6)
    })
  }

  reachable (a: SimNode, b: SimNode): boolean { return this.net.reachable(a.id, b.id) }
  changed (): void { for (const n of this.nodes.values()) if (n.up) n.membership.dispatchEvent(new CustomEvent('member:update')) }
  acting (role: string): SimNode[] { return [...this.nodes.values()].filter(n => n.up && n.engine.isActing(role)) }
  /** Apply the nodes' `group` numbers as the network's partition. */
  repartition (): void {
    const groups = new Map<number, string[]>()
    for (const n of this.nodes.values()) groups.set(n.group, [...(groups.get(n.group) ?? []), n.id])
    this.net.partition(groups.values())
  }
}

let rand: () => number = prng(42)

class SimNode {
  private partitionGroup = 0
  private isDeaf = false
  /** Peers this node wrongly believes dead (asymmetric views). */
  blind = new Set<string>()
  puts = 0
  gets = 0
  readonly membership = new EventTarget() as EventTarget & { self: () => Member, members: () => Member[] }
  readonly store = new Map<string, Uint8Array[]>()
  engine!: ElectionEngine
  fencing = new FencingStore()
  private onLease?: (sl: SignedLease, s: LeaseSource) => void

  constructor (readonly world: World, readonly key: PrivateKey, readonly id: string, readonly region = 'eu') {
    const member = (n: SimNode, state: Member['state']): Member => ({ peerId: n.id, state, incarnation: 0, region: n.region, roles: ROLES, addrs: [], version: '1', lastSeen: 0 })
    this.membership.self = () => member(this, 'alive')
    this.membership.members = () => [...world.nodes.values()].map(n => member(n, n === this || (world.reachable(this, n) && !this.blind.has(n.id)) ? 'alive' : 'dead'))
    world.net.add(id, (_from, m) => {
      // A DHT put stores the record on the peer; only gossip is handed to the engine's listener.
      if (m.source === 'dht') this.keep(m.sl)
      this.onLease?.(m.sl, m.source)
    })
    this.boot()
  }

  /** Up: the network delivers to it and it can send; setting false is a crash of its host, true a restart. */
  get up (): boolean { return this.world.net.isUp(this.id) }
  set up (v: boolean) { if (v) this.world.net.restart(this.id); else this.world.net.crash(this.id) }

  /** Partition group: nodes reach each other only within one group. */
  get group (): number { return this.partitionGroup }
  set group (g: number) { this.partitionGroup = g; this.world.repartition() }

  /** Drops every gossip delivery (DHT puts still arrive): a node that missed renewals. */
  get deaf (): boolean { return this.isDeaf }
  set deaf (v: boolean) {
    this.isDeaf = v
    this.world.net.setNodeFaults(this.id, v ? { dropIn: 1, where: m => m.source === 'gossip' } : undefined)
  }

  boot (): void {
    const transport: LeaseTransport = {
      start: (cb) => { this.onLease = cb },
      stop: () => { this.onLease = undefined },
      gossip: async (sl) => this.world.net.broadcast(this.id, { sl, source: 'gossip' }),
      put: async (sl) => {
        this.puts++
        this.keep(sl)
        return this.world.net.broadcast(this.id, { sl, source: 'dht' })
      },
      get: async (region, role) => {
        this.gets++
        const k = `${region}/${role}`
        const recs = [...this.world.nodes.values()].filter(n => n === this || this.world.reachable(this, n)).flatMap(n => n.store.get(k) ?? [])
        return await Promise.all(recs.map(async r => await decodeLease(r, this.world.clock.now())))
      },
      provide: async () => {},
      findProviders: async () => []
    }
    this.engine = new ElectionEngine({ config: CFG, eligible: ROLES, roles: ROLES, random: rand }, {
      peerId: this.id, privateKey: this.key, region: this.region, logger, membership: this.membership as any,
      transport, fencing: this.fencing, metrics: electionMetrics()
    })
    this.engine.addEventListener('role:elected', (e) => {
      const d = (e as CustomEvent<ElectedDetail>).detail
      this.world.intervals.push({ node: this.id, role: d.role, term: d.term, start: this.world.clock.now() })
    })
    this.engine.addEventListener('role:demoted', (e) => {
      const d = (e as CustomEvent<DemotedDetail>).detail
      const open = this.world.intervals.find(i => i.node === this.id && i.role === d.role && i.end === undefined)
      if (open !== undefined) open.end = this.world.clock.now()
    })
  }

  keep (sl: SignedLease): void {
    const k = `${sl.lease.region}/${sl.lease.role}`
    this.store.set(k, [...(this.store.get(k) ?? []), sl.record].slice(-4))
  }

  /** A crash: nothing leaves the node any more (what it sent is still delivered), its engine is gone. */
  async crash (): Promise<void> {
    this.up = false
    this.world.changed()
    // Close any acting interval at the crash instant: a dead process does not act.
    for (const i of this.world.intervals) if (i.node === this.id && i.end === undefined) i.end = this.world.clock.now()
    await this.engine.stop()
  }

  async restart (): Promise<void> {
    this.up = true
    this.boot()
    this.engine.start()
    this.world.changed()
  }
}

async function makeWorld (clock: VirtualClock, n: number, regions: string[] = ['eu']): Promise<World> {
  const world = new World(clock, rand)
  for (let i = 0; i < n; i++) {
    // Keys from the seeded PRNG too, so a seed replays the same holders and terms.
    const key = await generateKeyPairFromSeed('Ed25519', Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)))
    const id = peerIdFromPrivateKey(key).toString()
    world.nodes.set(id, new SimNode(world, key, id, regions[i % regions.length]))
  }
  for (const node of world.nodes.values()) node.engine.start()
  return world
}

function holderOf (world: World, role: string, region = 'eu'): string | undefined {
  const cands = [...world.nodes.values()].filter(n => n.up && n.region === region).map(n => ({ peerId: n.id, region: n.region, roles: ROLES }))
  return pickHolder(region, role, cands)
}

/** No two nodes act for the same role at the same instant (one clock for all). */
function assertNoOverlap (world: World): void {
  for (const role of ROLES) {
    const iv = world.intervals.filter(i => i.role === role).map(i => ({ ...i, end: i.end ?? Infinity }))
    for (const a of iv) {
      for (const b of iv) {
        if (a === b || a.node === b.node) continue
        assert.ok(a.end <= b.start || b.end <= a.start, `overlap on ${role}: ${a.node.slice(-6)} t${a.term} [${a.start},${a.end}] vs ${b.node.slice(-6)} t${b.term} [${b.start},${b.end}]`)
      }
    }
  }
}

/** A fencing token (term, holder) is only ever activated by its holder: no term number shared by two holders either. */
function assertUniqueTerms (world: World): void {
  for (const role of ROLES) {
    const byTerm = new Map<number, Set<string>>()
    for (const i of world.intervals.filter(i => i.role === role)) byTerm.set(i.term, (byTerm.get(i.term) ?? new Set()).add(i.node))
    for (const [term, holders] of byTerm) assert.equal(holders.size, 1, `term ${term} of ${role} acted by ${holders.size} holders`)
  }
}

/** ELECTION_SEEDS=<count> runs every test once per seed 1..count. */
const SEEDS = process.env.ELECTION_SEEDS !== undefined
  ? Array.from({ length: Number(process.env.ELECTION_SEEDS) }, (_, i) => i + 1)
  : [Number(process.env.ELECTION_SEED ?? 42)]

for (const seed of SEEDS) describe(`election engine (virtual clock, seeded in-memory network)${SEEDS.length > 1 ? `, seed ${seed}` : ''}`, function () {
  this.timeout(60_000)
  let clock: VirtualClock
  let uninstall: () => void
  let world: World | undefined
  beforeEach(() => {
    rand = prng(seed)
    clock = new VirtualClock(1_700_000_000_000)
    uninstall = clock.install()
  })
  afterEach(async function () {
    for (const n of world?.nodes.values() ?? []) if (n.up) { n.up = false; await n.engine.stop() }
    if (this.currentTest?.state === 'failed' && world !== undefined) {
      console.log(`last network events (ELECTION_SEED=${seed}):\n${world.net.formatTrace()}`)
    }
    world = undefined
    uninstall()
  })

  it('elects exactly the closest candidate per role, term 1, after the learn period', async () => {
    world = await makeWorld(clock, 3)
    await clock.tickAsync(CFG.learnPeriodMs - 100)
    assert.equal(world.acting('network').length, 0, 'nobody acts while learning')
    await clock.tickAsync(CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    for (const role of ROLES) {
      const acting = world.acting(role)
      assert.equal(acting.length, 1, `${role}: ${acting.length} acting`)
      assert.equal(acting[0].id, holderOf(world, role))
      assert.equal(acting[0].engine.actingTerm(role), 1)
      for (const n of world.nodes.values()) assert.equal(n.engine.book.get('eu', role)?.lease.holder, acting[0].id)
    }
    // Renewals keep it: still one holder, same term, many lease periods later.
    await clock.tickAsync(5 * CFG.leaseMs)
    for (const role of ROLES) {
      assert.equal(world.acting(role).length, 1)
      assert.equal(world.acting(role)[0].engine.actingTerm(role), 1)
    }
    assertNoOverlap(world)
  })

  it('steady state: renewals travel by gossip; the DHT is written per term and every dhtPutIntervalMs, read only when gossip goes quiet', async () => {
    world = await makeWorld(clock, 4)
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    for (const role of ROLES) assert.equal(world.acting(role).length, 1)
    for (const n of world.nodes.values()) { n.puts = 0; n.gets = 0 }
    const span = 3 * CFG.dhtPutIntervalMs
    await clock.tickAsync(span)
    const renewals = span / CFG.renewIntervalMs
    const puts = [...world.nodes.values()].reduce((a, n) => a + n.puts, 0)
    const gets = [...world.nodes.values()].reduce((a, n) => a + n.gets, 0)
    // One put per role per interval (+1 for the phase), instead of one per renewal.
    assert.ok(puts <= ROLES.length * (span / CFG.dhtPutIntervalMs + 1), `${puts} puts in ${span} ms (${renewals} renewals per role)`)
    assert.ok(puts >= ROLES.length * (span / CFG.dhtPutIntervalMs - 1), `${puts} puts: the record is still refreshed`)
    assert.equal(gets, 0, 'no DHT reads while gossip brings renewals')
    // A node that misses gossip repairs its book from the DHT.
    const deaf = [...world.nodes.values()].find(n => !ROLES.some(r => n.engine.isActing(r)))!
    deaf.deaf = true
    await clock.tickAsync(2 * CFG.renewIntervalMs + 2 * CFG.dhtRefreshMs)
    assert.ok(deaf.gets > 0, 'the deaf node read the DHT')
    assert.equal([...world.nodes.values()].filter(n => n !== deaf).reduce((a, n) => a + n.gets, 0), 0)
    for (const role of ROLES) assert.equal(deaf.engine.book.get('eu', role)?.lease.holder, world.acting(role)[0].id)
    assertNoOverlap(world)
  })

  it('fails over after a crash: term + 1, not before the old lease lapsed, within a lease period', async () => {
    world = await makeWorld(clock, 3)
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    const old = world.acting('network')[0]
    const oldLease = old.engine.book.get('eu', 'network')!.lease
    const crashAt = clock.now()
    await old.crash()
    await clock.tickAsync(CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 1.2 + CFG.claimSettleMs + 200)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.equal(acting[0].id, holderOf(world, 'network'))
    assert.equal(acting[0].engine.actingTerm('network'), oldLease.term + 1)
    const started = world.intervals.find(i => i.node === acting[0].id && i.role === 'network')!.start
    assert.ok(started >= oldLease.expiresAt + CFG.maxClockSkewMs, 'successor waited for the lapse')
    assert.ok(started - crashAt <= CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 1.2 + CFG.claimSettleMs + 100, `failover took ${started - crashAt} ms`)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('hands over at once on a graceful stop (release), before the lease would have lapsed', async () => {
    world = await makeWorld(clock, 3)
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    const old = world.acting('network')[0]
    const expires = old.engine.book.get('eu', 'network')!.lease.expiresAt
    await old.engine.stop()
    old.up = false
    world.changed()
    await clock.tickAsync(CFG.viewSettleMs + CFG.claimSettleMs + 200)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.ok(clock.now() < expires, 'took over before the old lease expired')
    assertNoOverlap(world)
  })

  it('a cut-off holder stops when its lease lapses; the others take over only after; after healing its token is stale everywhere', async () => {
    world = await makeWorld(clock, 4)
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    const old = world.acting('network')[0]
    const oldToken = { term: old.engine.actingTerm('network')!, holder: old.id }
    old.group = 1
    world.changed()
    // Its renewals reach nobody: it keeps acting only until its last lease lapses.
    await clock.tickAsync(CFG.leaseMs + CFG.renewIntervalMs * 2 + CFG.claimSettleMs + 500)
    assert.equal(old.engine.isActing('network'), false)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.notEqual(acting[0].id, old.id)
    assert.ok(acting[0].engine.actingTerm('network')! > oldToken.term)
    assertNoOverlap(world)
    // Heal: the old holder may win the role back (it is the closest), but only with a higher term.
    old.group = 0
    world.changed()
    await clock.tickAsync(3 * CFG.leaseMs)
    const after = world.acting('network')
    assert.equal(after.length, 1)
    for (const n of world.nodes.values()) {
      assert.equal(n.fencing.check('eu', 'network', oldToken), 'stale', `${n.id.slice(-6)} would still accept the old holder`)
    }
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('a node that sees a higher token stops acting at once (superseded)', async () => {
    world = await makeWorld(clock, 3)
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    const holder = world.acting('network')[0]
    const other = [...world.nodes.values()].find(n => n !== holder)!
    const { signLease } = await import('../../protocols/election/index.js')
    const now = clock.now()
    const higher = await signLease({ v: 1, region: 'eu', role: 'network', holder: other.id, term: 99, issuedAt: now, expiresAt: now + CFG.leaseMs }, other.key)
    ;(holder.engine as any).observe(higher, 'gossip')
    assert.equal(holder.engine.isActing('network'), false)
    // And it then claims above it once that lease lapses (the other never acted for it).
    await clock.tickAsync(CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 2 + CFG.claimSettleMs)
    assert.equal(world.acting('network').length, 1)
    assert.ok(world.acting('network')[0].engine.actingTerm('network')! > 99)
  })

  it('split views: two nodes that each believe they win claim concurrently; only one ever acts', async () => {
    world = await makeWorld(clock, 3)
    const ranked = [...world.nodes.values()].sort((a, b) => (a.id === holderOf(world!, 'network') ? -1 : b.id === holderOf(world!, 'network') ? 1 : 0))
    const [first, second] = ranked
    second.blind.add(first.id) // second thinks the real winner is dead, yet they can talk
    await clock.tickAsync(CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    assert.equal(world.acting('network').length, 1)
    await clock.tickAsync(4 * CFG.leaseMs)
    assert.equal(world.acting('network').length, 1)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('seeded random crashes and restarts: never two actors at once, never one term for two holders', async () => {
    world = await makeWorld(clock, 5)
    const nodes = [...world.nodes.values()]
    for (let round = 0; round < 40; round++) {
      await clock.tickAsync(Math.floor(rand() * 3 * CFG.leaseMs))
      const n = nodes[Math.floor(rand() * nodes.length)]
      if (n.up && nodes.filter(x => x.up).length > 2) await n.crash()
      else if (!n.up) await n.restart()
    }
    for (const n of nodes) if (!n.up) await n.restart()
    await clock.tickAsync(CFG.learnPeriodMs + 2 * CFG.leaseMs + 2 * CFG.renewIntervalMs)
    for (const role of ROLES) {
      const acting = world.acting(role)
      assert.equal(acting.length, 1, `${role} has ${acting.length} actors after the storm`)
      assert.equal(acting[0].id, holderOf(world, role))
    }
    assertNoOverlap(world)
    assertUniqueTerms(world)
    assert.ok(world.intervals.length >= 6, `the storm caused only ${world.intervals.length} activations`)
    // Terms only grow along the history of each role.
    for (const role of ROLES) {
      const terms = world.intervals.filter(i => i.role === role).sort((a, b) => a.start - b.start).map(i => i.term)
      for (let i = 1; i < terms.length; i++) assert.ok(terms[i] > terms[i - 1], `terms not increasing: ${terms.join(',')}`)
    }
  })
})
