/**
 * The update manager's rollout duty (managers/rollout/driver.ts) over a
 * simulated region: fake replicated config (every write passes the
 * namespace's built-in rule, as the real store's), fake membership, and
 * nodes that run whatever desired.ts computes from that config — the same
 * code every real node runs — on a virtual clock. Checked: a rollout
 * passes wave by wave and never has more than maxUnavailable nodes switching
 * at once (checked after every round, not only at the end); a version whose
 * health fails is rolled back and no node stays on it; a holder killed
 * mid-rollout is replaced by one of a newer term that continues from the
 * records — each node switches exactly once and no wave is skipped — and
 * the old holder's later rounds write nothing; a paused rollout does not
 * move; a side of a partition without a majority starts no new wave;
 * regions roll one after another.
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Registry } from 'prom-client'
import { RolloutDuty, type RolloutConfig, type RolloutDutyInit } from '../../../managers/rollout/driver.js'
import { logTracer, type FinishedSpan } from '../../../wire/tracing.js'
import { formatTraceparent, newSpanId, newTraceId } from '../../../wire/trace-context.js'
import { rolloutMetrics } from '../../../managers/rollout/metrics.js'
import { checkRolloutEntry, ROLLOUTS_NAMESPACE, type Rollout } from '../../../managers/rollout/record.js'
import { checkProgressEntry, currentProgress, progressOf, ROLLOUT_PROGRESS_NAMESPACE, type RegionProgress } from '../../../managers/rollout/progress.js'
import { indexRollouts, rolloutState } from '../../../managers/rollout/state.js'
import { planStart } from '../../../managers/rollout/start.js'
import { checkDeploymentEntry, DEPLOYMENTS_NAMESPACE, parseDeployment } from '../../../managers/deployment.js'
import { currentPlacements, PLACEMENTS_NAMESPACE } from '../../../managers/placement-namespace.js'
import { desiredReleases } from '../../../managers/desired.js'
import type { Member } from '../../../protocols/membership/types.js'
import type { HealthReport } from '../../../protocols/health/index.js'

const logger = pino({ level: 'silent' })
const RULES: Record<string, (k: string, v: unknown) => void> = {
  [ROLLOUTS_NAMESPACE]: checkRolloutEntry,
  [ROLLOUT_PROGRESS_NAMESPACE]: checkProgressEntry,
  [DEPLOYMENTS_NAMESPACE]: checkDeploymentEntry
}

class FakeConfig implements RolloutConfig {
  readonly data = new Map<string, Map<string, { value: unknown }>>()
  /** The trace of every traced write, in order. */
  readonly traced: Array<{ ns: string, key: string, parent?: string }> = []
  entries (ns: string): Array<[string, { value: unknown }]> { return [...(this.data.get(ns) ?? new Map())] }
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean, trace?: { parent?: string } } = {}): Promise<unknown> {
    if (opts.trace !== undefined) this.traced.push({ ns, key, ...opts.trace })
    const m = this.data.get(ns) ?? new Map()
    this.data.set(ns, m)
    if (opts.deleted === true) m.delete(key)
    else { RULES[ns]?.(key, value); m.set(key, { value: structuredClone(value) }) }
    return {}
  }

  onChange (): () => void { return () => {} }
}

interface SimNode { peerId: string, region: string, alive: boolean, version: string, since: number, switches: string[] }

/** A region (or two) of nodes running `web`, each switching to what desired.ts says, health failing on `bad`. */
class World {
  readonly config = new FakeConfig()
  readonly nodes: SimNode[]
  readonly bad = new Set<string>()
  constructor (regions: Record<string, number>, readonly now: () => number) {
    this.nodes = Object.entries(regions).flatMap(([region, n]) =>
      Array.from({ length: n }, (_, i) => ({ peerId: `12D3Koo${region}${i}`, region, alive: true, version: '1.0.0', since: 0, switches: [] })))
    void this.config.write(DEPLOYMENTS_NAMESPACE, 'web', { name: 'web', version: '1.0.0' })
  }

  /** Every alive node converges on what it should run (installing takes no time here). */
  converge (): void {
    const c = this.config
    for (const n of this.nodes) {
      if (!n.alive) continue
      const want = desiredReleases({ peerId: n.peerId, region: n.region, labels: {} }, c.entries(DEPLOYMENTS_NAMESPACE), c.entries(PLACEMENTS_NAMESPACE),
        { rollouts: c.entries(ROLLOUTS_NAMESPACE), progress: c.entries(ROLLOUT_PROGRESS_NAMESPACE) }).releases.find(r => r.name === 'web')
      if (want !== undefined && want.version !== n.version) { n.version = want.version; n.since = this.now(); n.switches.push(want.version) }
    }
  }

  membership (region: string): { self: () => Member, members: () => Member[] } {
    const members = (): Member[] => this.nodes.map(n => ({ peerId: n.peerId, state: n.alive ? 'alive' : 'dead', incarnation: 0, region: n.region, roles: [], addrs: [], version: '0.1.0', lastSeen: 0 }))
    return { self: () => members().find(m => m.region === region)!, members }
  }

  reports (): Array<{ report: HealthReport }> {
    return this.nodes.map(n => ({
      report: {
        v: 1, peerId: n.peerId, region: n.region, issuedAt: this.now(), uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 1,
        memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 1, freeBytes: 1 }, diskFreeBytes: 1, checks: [],
        components: [{ name: 'web', version: n.version, state: 'running', health: this.bad.has(n.version) ? 'failing' : 'passing', since: n.since, restarts: 0 }]
      } as HealthReport
    }))
  }

  requires?: Record<string, string>
  duty (region: string, registry = new Registry(), extra: Pick<RolloutDutyInit, 'tracer' | 'emit'> = {}): RolloutDuty {
    return new RolloutDuty({
      region, config: () => this.config, membership: this.membership(region), health: { reports: () => this.reports() },
      releaseFacts: () => ({ healthCheck: true, ...(this.requires !== undefined ? { requires: this.requires } : {}) }), logger, metrics: rolloutMetrics(registry), ...extra
    })
  }

  async start (over: Partial<Rollout> = {}): Promise<Rollout> {
    const r = { id: 'r1', component: 'web', from: '1.0.0', to: '2.0.0', regions: ['eu'], canary: 1, maxParallel: { count: 2 }, minHealthyTimeMs: 2_000, healthyDeadlineMs: 30_000, progressDeadlineMs: 60_000, autoRevert: true, createdAt: this.now(), control: { state: 'running', at: this.now(), promoted: false }, ...over } as Rollout
    await this.config.write(ROLLOUTS_NAMESPACE, r.id, r)
    return r
  }

  state (r: Rollout): string {
    const rec = this.config.entries(ROLLOUTS_NAMESPACE).find(([k]) => k === r.id)![1].value as Rollout
    return rolloutState(rec, progressOf(currentProgress(this.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions))
  }

  /** Nodes switched within the last `ms` (down or not yet proven healthy). */
  switching (ms: number): number { return this.nodes.filter(n => n.switches.length > 0 && this.now() - n.since < ms).length }
}

describe('rollout duty (update manager)', () => {
  let clock: ReturnType<typeof FakeTimers.install>
  beforeEach(() => { clock = FakeTimers.install({ now: 1_000_000, toFake: ['Date'] }) })
  afterEach(() => { clock.uninstall() })

  /** Rounds of `duty` in `term`, every 500 ms of virtual time, until `done` or `limit` rounds; checks `each` after every round. */
  async function drive (w: World, duties: Array<{ duty: RolloutDuty, term: number }>, done: () => boolean, each: () => void = () => {}, limit = 400): Promise<void> {
    for (let i = 0; i < limit && !done(); i++) {
      for (const { duty, term } of duties) await duty.round(term)
      w.converge()
      each()
      clock.tick(500)
    }
    assert.ok(done(), 'did not finish')
  }

  it('passes canary, then waves of max-parallel, never more than maxUnavailable switching at once, and writes the deployment', async () => {
    const w = new World({ eu: 7 }, Date.now)
    const r = await w.start({ maxUnavailable: 1 })
    const registry = new Registry()
    const duty = w.duty('eu', registry)
    let maxSwitching = 0
    await drive(w, [{ duty, term: 3 }], () => w.state(r) === 'succeeded', () => { maxSwitching = Math.max(maxSwitching, w.switching(2_000)) })
    await duty.round(3)
    assert.equal(maxSwitching, 1)
    for (const n of w.nodes) assert.deepEqual(n.switches, ['2.0.0'], n.peerId)
    const p = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')!
    assert.deepEqual(p.waves.map(x => x.nodes.length), [1, 2, 2, 2])
    assert.ok(p.waves.every(x => x.state === 'passed'))
    const d = w.config.entries(DEPLOYMENTS_NAMESPACE).find(([k]) => k === 'web')![1].value as { version: string }
    assert.equal(d.version, '2.0.0')
    assert.match(await registry.metrics(), /mycel_rollout_wave_duration_seconds_count\{component="web"\} 4/)
    // The deployment now says 2.0.0: nodes stay there, nobody switches again.
    w.converge()
    for (const n of w.nodes) assert.deepEqual(n.switches, ['2.0.0'])
  })

  it('a rollout started the moment the one before succeeded, before its deployment write arrived, starts from its `to` and is driven at once', async () => {
    const w = new World({ eu: 3 }, Date.now)
    w.bad.add('3.0.0')
    const r1 = await w.start({ maxUnavailable: 1 })
    const duty = w.duty('eu')
    await drive(w, [{ duty, term: 1 }], () => w.state(r1) === 'succeeded')
    const deployed = (): string => (w.config.entries(DEPLOYMENTS_NAMESPACE).find(([k]) => k === 'web')![1].value as { version: string }).version
    assert.equal(deployed(), '1.0.0', 'the holder writes the deployment in its next round')
    // The operator's start in that moment, from this replica (as operator.ts reads it).
    const members = w.membership('eu').members().map(m => ({ peerId: m.peerId, region: m.region, state: m.state, version: m.version }))
    const index = indexRollouts(w.config.entries(ROLLOUTS_NAMESPACE), w.config.entries(ROLLOUT_PROGRESS_NAMESPACE))
    const plan = planStart({ component: 'web', version: '3.0.0', canary: 1, maxParallel: { count: 1 } }, {
      deployment: parseDeployment(w.config.entries(DEPLOYMENTS_NAMESPACE)[0][1].value),
      rollouts: index.byComponent.get('web') ?? [],
      network: { members, reports: new Map(w.nodes.map(n => [n.peerId, { version: '0.1.0', labels: {}, components: [{ name: 'web', version: n.version, state: 'running' as const, restarts: 0, health: 'passing' as const, since: 0 }] }])) },
      placements: currentPlacements([]),
      release: () => ({ archive: { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', size: 1 } }),
      now: Date.now()
    }, () => 'r2')
    assert.equal(plan.rollout.from, '2.0.0', 'from the version every node runs, not the one the deployment is about to stop saying')
    assert.equal(plan.rollout.lastStable, '2.0.0')
    await w.config.write(ROLLOUTS_NAMESPACE, 'r2', plan.rollout)
    // One round writes the deployment and plans the new rollout against it.
    await duty.round(1)
    assert.equal(deployed(), '2.0.0')
    assert.notEqual(progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), 'r2', ['eu']).get('eu'), undefined, 'r2 planned in the same round')
    // 3.0.0 fails its gate: rolled back to 2.0.0, where every node ends.
    await drive(w, [{ duty, term: 1 }], () => w.state(plan.rollout) === 'rolled-back' && w.nodes.every(n => n.version === '2.0.0'))
    assert.equal(w.nodes.filter(n => n.switches.includes('3.0.0')).length, 1, 'only the canary ran 3.0.0')
  })

  it('without maxUnavailable a whole wave switches at once (max-parallel), still never more', async () => {
    const w = new World({ eu: 8 }, Date.now)
    const r = await w.start({ canary: 0, maxParallel: { percent: 50 } })
    let maxSwitching = 0
    await drive(w, [{ duty: w.duty('eu'), term: 1 }], () => w.state(r) === 'succeeded', () => { maxSwitching = Math.max(maxSwitching, w.switching(2_000)) })
    assert.equal(maxSwitching, 4)
  })

  it('a version whose health fails is rolled back: every touched node returns to 1.0.0, the rest never moved', async () => {
    const w = new World({ eu: 6 }, Date.now)
    w.bad.add('2.0.0')
    const r = await w.start({ canary: 2, maxUnavailable: 2 })
    const registry = new Registry()
    const duty = w.duty('eu', registry)
    await drive(w, [{ duty, term: 1 }], () => w.state(r) === 'rolled-back' && w.nodes.every(n => n.version === '1.0.0'))
    // The metrics of issue 14 point 6, as the holder exports them (gauges as of its latest round).
    await duty.round(1)
    const text = await registry.metrics()
    assert.match(text, /mycel_rollout_gate_failures_total\{reason="health-failing"\} 1/)
    assert.match(text, /mycel_rollout_rollbacks_total\{trigger="gate"\} 1/)
    assert.match(text, /mycel_rollouts\{region="eu",state="rolled-back"\} 1/)
    assert.match(text, /mycel_component_nodes\{component="web",version="1\.0\.0"\} 6/)
    assert.match(text, /mycel_rollout_assignments_total 2/)
    const touched = w.nodes.filter(n => n.switches.length > 0)
    assert.equal(touched.length, 2, 'only the canaries were touched')
    for (const n of touched) assert.deepEqual(n.switches, ['2.0.0', '1.0.0'])
    // The deployment still says the last stable version (the real CLI showed it in rollouts.test.ts).
    const d = w.config.entries(DEPLOYMENTS_NAMESPACE).find(([k]) => k === 'web')![1].value as { version: string }
    assert.equal(d.version, '1.0.0')
    const p = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')!
    assert.equal(p.failure?.reason, 'health-failing')
    // Without auto-revert the same failure leaves the rollout failed and the nodes where they are.
    const w2 = new World({ eu: 3 }, Date.now)
    w2.bad.add('2.0.0')
    const r2 = await w2.start({ autoRevert: false })
    await drive(w2, [{ duty: w2.duty('eu'), term: 1 }], () => w2.state(r2) === 'failed')
    for (let i = 0; i < 5; i++) { await w2.duty('eu').round(1); w2.converge() }
    assert.equal(w2.nodes.filter(n => n.version === '2.0.0').length, 1)
  })

  it('a holder killed mid-rollout: the next term continues from the records, each node switches once, no wave skipped; the old holder is fenced', async () => {
    const w = new World({ eu: 7 }, Date.now)
    const r = await w.start({ maxUnavailable: 2 })
    const first = w.duty('eu')
    // Until the second wave is active.
    await drive(w, [{ duty: first, term: 4 }], () => {
      const p = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')
      return p?.waves[1]?.state === 'active' && p.waves[1].assigned.length > 0
    })
    const before = w.config.entries(ROLLOUT_PROGRESS_NAMESPACE).map(([k]) => k)
    assert.deepEqual(before, ['r1/eu/4'])
    const second = w.duty('eu')
    await second.round(5)
    // The old holder, not knowing it lost the role, runs a round: it writes nothing.
    const stale = await first.round(4)
    assert.deepEqual(stale.superseded, ['r1'])
    assert.deepEqual(stale.written, [])
    await drive(w, [{ duty: second, term: 5 }, { duty: first, term: 4 }], () => w.state(r) === 'succeeded')
    for (const n of w.nodes) assert.deepEqual(n.switches, ['2.0.0'], n.peerId)
    const keys = w.config.entries(ROLLOUT_PROGRESS_NAMESPACE).map(([k]) => k)
    assert.deepEqual(keys, ['r1/eu/5'], 'the superseded term\'s key was deleted')
    const p = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')!
    assert.ok(p.waves.every(x => x.state === 'passed' && x.passedAt !== undefined))
  })

  it('a region whose nodes do not meet the new manifest\'s requires fails before anything changes there', async () => {
    const w = new World({ eu: 3 }, Date.now)
    w.requires = { mycel: '>=9.0.0' }
    const r = await w.start()
    await drive(w, [{ duty: w.duty('eu'), term: 1 }], () => w.state(r) === 'rolled-back')
    const p = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')!
    assert.equal(p.failure?.reason, 'incompatible')
    assert.match(p.failure?.detail ?? '', /^3 incompatible: .*requires mycel >=9\.0\.0, found 0\.1\.0/)
    assert.ok(w.nodes.every(n => n.switches.length === 0), 'no node touched')
  })

  it('a paused rollout does not move; resumed, it finishes', async () => {
    const w = new World({ eu: 3 }, Date.now)
    const r = await w.start({ control: { state: 'paused', at: Date.now(), promoted: false } })
    const duty = w.duty('eu')
    for (let i = 0; i < 10; i++) { await duty.round(1); w.converge(); clock.tick(500) }
    assert.equal(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE).length, 0)
    assert.ok(w.nodes.every(n => n.switches.length === 0))
    await w.config.write(ROLLOUTS_NAMESPACE, r.id, { ...r, control: { state: 'running', at: Date.now(), resumedAt: Date.now(), promoted: false } })
    await drive(w, [{ duty, term: 1 }], () => w.state(r) === 'succeeded')
  })

  it('a side that sees no majority alive finishes its current wave but starts no new one; healed, it goes on', async () => {
    const w = new World({ eu: 3, us: 4 }, Date.now)
    const r = await w.start({ canary: 1, maxParallel: { count: 1 } })
    const duty = w.duty('eu')
    const progress = (): RegionProgress | undefined => progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions).get('eu')
    await drive(w, [{ duty, term: 1 }], () => progress()?.waves[0]?.assigned.length === 1)
    // Cut off: the four us nodes look dead from here (3 of 7 alive).
    for (const n of w.nodes.filter(x => x.region === 'us')) n.alive = false
    for (let i = 0; i < 40; i++) { await duty.round(1); w.converge(); clock.tick(500) }
    assert.equal(progress()?.waves[0]?.state, 'passed', 'the canary wave was judged and passed')
    assert.equal(progress()?.waves[1]?.state, 'pending', 'no new wave started')
    assert.equal(w.nodes.filter(n => n.version === '2.0.0').length, 1)
    // Healed (the progress deadline does not count the time held back).
    clock.tick(120_000)
    for (const n of w.nodes) n.alive = true
    await drive(w, [{ duty, term: 1 }], () => w.state(r) === 'succeeded')
    for (const n of w.nodes.filter(x => x.region === 'eu')) assert.deepEqual(n.switches, ['2.0.0'])
  })

  it('regions roll one after another: the second region starts only after the first passed', async () => {
    const w = new World({ eu: 2, us: 2 }, Date.now)
    const r = await w.start({ regions: ['us', 'eu'], canary: 0 })
    const eu = w.duty('eu')
    const us = w.duty('us')
    let euStartedEarly = false
    await drive(w, [{ duty: eu, term: 1 }, { duty: us, term: 1 }], () => w.state(r) === 'succeeded', () => {
      const prog = progressOf(currentProgress(w.config.entries(ROLLOUT_PROGRESS_NAMESPACE)), r.id, r.regions)
      if (prog.has('eu') && prog.get('us')?.state !== 'passed') euStartedEarly = true
    })
    assert.equal(euStartedEarly, false)
    for (const n of w.nodes) assert.deepEqual(n.switches, ['2.0.0'])
  })
})

describe('rollout duty: trace context', () => {
  it('a traced rollout\'s steps are children of its start; its progress writes and decision actions carry the step', async () => {
    const w = new World({ eu: 3 }, Date.now)
    const start = { traceId: newTraceId(), spanId: newSpanId() }
    const r = await w.start({ tc: formatTraceparent({ ...start, flags: '01' }) })
    const spans: FinishedSpan[] = []
    const emitted: Array<{ kind: string, parent?: string }> = []
    const duty = w.duty('eu', new Registry(), {
      tracer: logTracer(logger, [s => { spans.push(s) }]),
      emit: async (_role, kind, _body, parent) => { emitted.push({ kind, ...(parent !== undefined ? { parent } : {}) }); return true }
    })
    await duty.round(1)
    const [step] = spans
    assert.ok(step !== undefined, 'the round that planned and assigned recorded a step')
    assert.deepEqual([step.name, step.hop, step.traceId, step.parentSpanId, step.attrs.rollout, step.attrs.region], ['rollout', 'acted', start.traceId, start.spanId, r.id, 'eu'])
    const stepTp = formatTraceparent({ traceId: start.traceId, spanId: step.spanId, flags: '01' })
    assert.deepEqual(w.config.traced.filter(t => t.ns === ROLLOUT_PROGRESS_NAMESPACE).map(t => t.parent), [stepTp])
    assert.ok(emitted.length > 0 && emitted.every(e => e.parent === stepTp), JSON.stringify(emitted))
    // An untraced rollout (an older writer's record): nothing traced.
    const w2 = new World({ eu: 3 }, Date.now)
    await w2.start()
    const before = spans.length
    await w2.duty('eu', new Registry(), { tracer: logTracer(logger, [s => { spans.push(s) }]) }).round(1)
    assert.equal(spans.length, before)
    assert.deepEqual(w2.config.traced, [])
  })
})
