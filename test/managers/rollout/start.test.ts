/**
 * Starting a rollout (managers/rollout/start.ts, operator.ts): every refusal
 * is its named error and leaves nothing written; an accepted start writes
 * one record the namespace rule accepts, with `from`, regions and
 * `lastStable` derived as docs/rollouts.md says.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import pino from 'pino'
import { parseDeployment } from '../../../managers/deployment.js'
import { currentPlacements } from '../../../managers/placement-namespace.js'
import { RolloutOperator } from '../../../managers/rollout/operator.js'
import { checkRolloutEntry, parseRollout, ROLLOUT_ID_PATTERN, ROLLOUTS_NAMESPACE } from '../../../managers/rollout/record.js'
import { planStart, rolloutId, type StartFacts } from '../../../managers/rollout/start.js'
import { EU, MemoryConfig, network, progress, release, releases, rollout, US } from './operator-fixtures.js'

const NOW = 1_000_000

function facts (over: Partial<StartFacts> = {}): StartFacts {
  return {
    deployment: parseDeployment({ name: 'web', version: '1.0.0' }),
    rollouts: [],
    network: network(),
    placements: currentPlacements([]),
    release: releases({ '2.0.0': release() }),
    now: NOW,
    ...over
  }
}

function refusedWith (fn: () => unknown, name: string, status: number, match?: RegExp): void {
  assert.throws(fn, (e: any) => {
    assert.equal(e.name, name, e.message)
    assert.equal(e.status, status)
    if (match !== undefined) assert.match(e.message, match)
    assert.equal(e.message.split('\n').length, 1)
    return true
  })
}

const withProgress = (r: ReturnType<typeof rollout>, ...ps: ReturnType<typeof progress>[]): { rollout: typeof r, progress: Map<string, ReturnType<typeof progress>> } =>
  ({ rollout: r, progress: new Map(ps.map(p => [p.region, p])) })

describe('rollout start', () => {
  it('accepts: from the deployment, every region it runs in sorted, lastStable = from, control running', () => {
    const plan = planStart({ component: 'web', version: '2.0.0', canary: 1, maxParallel: { percent: 25 } }, facts(), () => 'web-2.0.0-abcdef')
    const r = plan.rollout
    assert.deepEqual({ id: r.id, from: r.from, to: r.to, lastStable: r.lastStable, regions: r.regions, canary: r.canary, maxParallel: r.maxParallel, createdAt: r.createdAt, control: r.control },
      { id: 'web-2.0.0-abcdef', from: '1.0.0', to: '2.0.0', lastStable: '1.0.0', regions: ['eu', 'us'], canary: 1, maxParallel: { percent: 25 }, createdAt: NOW, control: { state: 'running', at: NOW, promoted: false } })
    assert.equal(r.maxUnavailable, undefined)
    assert.deepEqual(plan.unchecked, US, 'us nodes report to their own region only')
    checkRolloutEntry(r.id, r)
  })

  it('refuses a component without a deployment (404) and a version the deployment runs (409)', () => {
    refusedWith(() => planStart({ component: 'web', version: '2.0.0' }, facts({ deployment: undefined })), 'NoDeploymentError', 404, /no deployment of web/)
    refusedWith(() => planStart({ component: 'web', version: '1.0.0' }, facts()), 'SameVersionError', 409, /1\.0\.0 already/)
  })

  it('passes on the artifact service\'s verdict on the release', () => {
    refusedWith(() => planStart({ component: 'web', version: '3.0.0' }, facts()), 'UnknownReleaseError', 404)
    refusedWith(() => planStart({ component: 'web', version: '2.0.0' }, facts({ release: releases({}, ['2.0.0']) })), 'UntrustedPublisherError', 403)
  })

  it('refuses an incompatible version listing every node and reason', () => {
    // mycel is checked everywhere (membership knows every agent's version); db only where reports are held.
    const f = facts({ release: releases({ '2.0.0': release({ mycel: '>=0.6.0', db: '^2.0.0' }) }) })
    assert.throws(() => planStart({ component: 'web', version: '2.0.0' }, f), (e: any) => {
      assert.equal(e.name, 'IncompatibleRolloutError')
      assert.equal(e.status, 409)
      assert.match(e.message, /incompatible with 5 of 5 target nodes/)
      for (const p of [...EU, ...US]) assert.match(e.message, new RegExp(`${p}: requires mycel >=0\\.6\\.0, found 0\\.5\\.0`))
      for (const p of EU) assert.match(e.message, new RegExp(`${p}: requires db \\^2\\.0\\.0, not installed`))
      assert.equal(e.problems.length, 8)
      return true
    })
    const ok = facts({ release: releases({ '2.0.0': release({ mycel: '>=0.5.0' }) }) })
    assert.equal(planStart({ component: 'web', version: '2.0.0' }, ok).rollout.to, '2.0.0')
  })

  it('refuses a second rollout while one is open, naming it; a closed one does not count', () => {
    for (const [r, ps, open] of [
      [rollout(), [], true],
      [rollout({ control: { state: 'paused', at: 1 } }), [], true],
      [rollout({ autoRevert: false }), [progress({ state: 'failed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'failed' }], failure: { at: 5, reason: 'health-failing', detail: 'x', wave: 0 } })], true],
      [rollout({ control: { state: 'aborted', at: 1 } }), [], false],
      [rollout({ control: { state: 'rollback', at: 1 } }), [], false],
      [rollout(), [progress({ state: 'passed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', passedAt: 5 }] })], false]
    ] as const) {
      const f = facts({ rollouts: [withProgress(r, ...ps)] })
      if (open) refusedWith(() => planStart({ component: 'web', version: '3.0.0' }, { ...f, release: releases({ '3.0.0': release() }) }), 'RolloutOpenError', 409, /web-2\.0\.0-aaaaaa .* refused, not queued/)
      else assert.equal(planStart({ component: 'web', version: '3.0.0' }, { ...f, release: releases({ '3.0.0': release() }) }).rollout.to, '3.0.0')
    }
  })

  it('from: the version of a rollout that succeeded before its deployment write arrived; a rolled-back one leaves the deployment\'s', () => {
    const passed = progress({ state: 'passed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', passedAt: 5 }] })
    const succeeded = facts({ rollouts: [withProgress(rollout(), passed)], release: releases({ '2.0.0': release(), '3.0.0': release() }) })
    const r = planStart({ component: 'web', version: '3.0.0' }, succeeded).rollout
    assert.deepEqual([r.from, r.lastStable], ['2.0.0', '2.0.0'])
    refusedWith(() => planStart({ component: 'web', version: '2.0.0' }, succeeded), 'SameVersionError', 409, /2\.0\.0 already/)
    const back = facts({ rollouts: [withProgress(rollout({ control: { state: 'rollback', at: 1 } }), passed)], release: releases({ '3.0.0': release() }) })
    assert.equal(planStart({ component: 'web', version: '3.0.0' }, back).rollout.from, '1.0.0')
    // Once the write arrived the succeeded rollout no longer starts from the deployment's version: from is the deployment's.
    const arrived = facts({ deployment: parseDeployment({ name: 'web', version: '2.0.0' }), rollouts: [withProgress(rollout(), passed)], release: releases({ '3.0.0': release() }) })
    assert.equal(planStart({ component: 'web', version: '3.0.0' }, arrived).rollout.from, '2.0.0')
  })

  it('regions: an explicit list is exactly the regions the deployment runs in, in the operator\'s order', () => {
    assert.deepEqual(planStart({ component: 'web', version: '2.0.0', regions: ['us', 'eu'] }, facts()).rollout.regions, ['us', 'eu'])
    refusedWith(() => planStart({ component: 'web', version: '2.0.0', regions: ['eu'] }, facts()), 'RolloutRegionsError', 409, /missing us/)
    refusedWith(() => planStart({ component: 'web', version: '2.0.0', regions: ['eu', 'us', 'ap'] }, facts()), 'RolloutRegionsError', 409, /ap: the deployment does not run there/)
    const euOnly = facts({ deployment: parseDeployment({ name: 'web', version: '1.0.0', regions: ['eu', 'ap'] }) })
    assert.deepEqual(planStart({ component: 'web', version: '2.0.0' }, euOnly).rollout.regions, ['eu'], 'ap has no known member')
    refusedWith(() => planStart({ component: 'web', version: '2.0.0' }, facts({ deployment: parseDeployment({ name: 'web', version: '1.0.0', regions: ['ap'] }) })), 'RolloutRegionsError', 409, /no region with a known member/)
  })

  it('refuses bad knobs with the record\'s bounds (422) and unknown fields', () => {
    for (const body of [
      { component: 'web', version: '2.0.0', maxParallel: { count: 0 } },
      { component: 'web', version: '2.0.0', maxParallel: { percent: 101 } },
      { component: 'web', version: '2.0.0', minHealthyTimeMs: 400_000 },
      { component: 'web', version: '2.0.0', healthyDeadlineMs: 700_000 },
      { component: 'web', version: '2.0.0', maxUnavailable: 0 },
      { component: 'web', version: '2.0' },
      { component: 'web', version: '2.0.0', minHealthyTime: '2s' }
    ]) refusedWith(() => planStart(body, facts()), 'InvalidRolloutError', 422)
  })

  it('lastStable: the last version healthy everywhere it ran, from earlier rollouts and the deployment\'s own', () => {
    // 1.0.0 -> 1.5.0 passed at 100; 1.5.0 -> 2.0.0 passed a wave at 200, then its region failed at 300 (rolled back).
    const r1 = withProgress(rollout({ id: 'r1', from: '1.0.0', to: '1.5.0', createdAt: 1 }),
      progress({ id: 'r1', state: 'passed', waves: [{ nodes: ['eu-1', 'eu-2'], assigned: ['eu-1', 'eu-2'], state: 'passed', passedAt: 100 }] }))
    const r2 = withProgress(rollout({ id: 'r2', from: '1.5.0', to: '2.0.0', createdAt: 2 }),
      progress({ id: 'r2', state: 'failed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', passedAt: 200 }, { nodes: ['eu-2'], assigned: ['eu-2'], state: 'failed' }], failure: { at: 300, reason: 'health-failing', detail: 'x', wave: 1 } }))
    const at = (deployed: string): string | undefined => planStart({ component: 'web', version: '3.0.0' },
      facts({ deployment: parseDeployment({ name: 'web', version: deployed }), rollouts: [r1, r2], release: releases({ '3.0.0': release() }) })).rollout.lastStable
    assert.equal(at('1.5.0'), '1.5.0', 'the deployment\'s version, healthy now')
    assert.equal(at('2.0.0'), '1.5.0', '2.0.0 (redeployed by hand) failed in r2: not the way back')
    // r1 from 1.0.0 succeeded: its nodes run 1.5.0 until its write reaches the deployment (state.ts settledVersion).
    assert.equal(at('1.0.0'), '1.5.0')
  })

  it('ids are readable, unique and within the pattern, whatever the version', () => {
    assert.match(rolloutId('web', '2.0.0+build.7'), /^web-2\.0\.0_build\.7-[0-9a-f]{6}$/)
    const long = rolloutId('a'.repeat(64), `1.0.0-${'x'.repeat(200)}`)
    assert.ok(ROLLOUT_ID_PATTERN.test(long) && long.length === 64, long)
    assert.notEqual(rolloutId('web', '2.0.0'), rolloutId('web', '2.0.0'))
  })
})

describe('rollout start through the operator', () => {
  const log = pino({ level: 'silent' })
  const signal = new AbortController().signal

  it('writes one record when every check passes; nothing when the archive is unreachable', async () => {
    const config = new MemoryConfig().deploy({ name: 'web', version: '1.0.0' })
    let reachable = false
    const op = new RolloutOperator({ config, release: releases({ '2.0.0': release() }), probe: async () => reachable, network: () => network(), logger: log, now: () => NOW })
    await assert.rejects(op.start({ component: 'web', version: '2.0.0' }, signal), (e: any) => e.name === 'ArchiveUnreachableError' && e.status === 503)
    assert.equal(config.writes.length, 0)
    reachable = true
    const r = await op.start({ component: 'web', version: '2.0.0' }, signal)
    assert.deepEqual(config.writes.map(w => [w.ns, w.key]), [[ROLLOUTS_NAMESPACE, r.id]])
    assert.deepEqual(op.list().map(v => v.id), [r.id])
    // The first is open now: a second start is refused.
    await assert.rejects(op.start({ component: 'web', version: '2.0.0', canary: 1 }, signal), (e: any) => e.name === 'RolloutOpenError' && e.openId === r.id)
    assert.equal(config.writes.length, 1)
  })

  it('re-checks after the probe: a rollout written meanwhile wins, the start writes nothing', async () => {
    const config = new MemoryConfig().deploy({ name: 'web', version: '1.0.0' })
    const op = new RolloutOperator({
      config,
      release: releases({ '2.0.0': release() }),
      // While this node waits on the DHT, another node's rollout of web arrives.
      probe: async () => { config.addRollout(rollout({ id: 'other' })); return true },
      network: () => network(),
      logger: log
    })
    await assert.rejects(op.start({ component: 'web', version: '2.0.0' }, signal), (e: any) => e.name === 'RolloutOpenError' && e.openId === 'other')
    assert.equal(config.writes.length, 0)
  })

  it('property: a refused start writes nothing; an accepted one writes one record that parses and round-trips', async () => {
    // Mostly good input, so that both outcomes occur often: about 8 % of runs are accepted, so 400 runs make
    // "more than 10 accepted" all but certain (150 runs fell short now and then: a flaky coverage check).
    const mostly = fc.oneof({ arbitrary: fc.constant(true), weight: 6 }, { arbitrary: fc.constant(false), weight: 1 })
    const knobs = fc.record({
      canary: fc.integer({ min: -1, max: 30 }),
      maxParallel: fc.oneof(fc.record({ count: fc.integer({ min: 0, max: 30 }) }), fc.record({ percent: fc.integer({ min: 0, max: 104 }) })),
      minHealthyTimeMs: fc.integer({ min: 0, max: 330_000 }),
      maxUnavailable: fc.integer({ min: 0, max: 30 }),
      autoRevert: fc.boolean()
    }, { requiredKeys: [] })
    const outcomes = { accepted: 0, refused: 0 }
    await fc.assert(fc.asyncProperty(
      knobs,
      fc.constantFrom('1.0.0', '2.0.0', '3.0.0', '2.0.0+b.1', '2.0.0+b.1', '2.0.0'),
      mostly, mostly.map(b => !b), mostly, mostly,
      fc.option(fc.oneof(fc.constant(['us', 'eu']), fc.shuffledSubarray(['eu', 'us', 'ap'])), { nil: undefined, freq: 2 }),
      async (k, version, deployed, openOne, reachable, compatible, regions) => {
        const config = new MemoryConfig()
        if (deployed) config.deploy({ name: 'web', version: '1.0.0' })
        if (openOne) config.addRollout(rollout({ id: 'open-one', to: '9.0.0' }))
        const requires = compatible ? undefined : { mycel: '>=1.0.0' }
        const op = new RolloutOperator({
          config,
          release: releases({ '2.0.0': release(requires), '2.0.0+b.1': release(requires) }, ['3.0.0']),
          probe: async () => reachable,
          network: () => network(),
          logger: log,
          now: () => NOW
        })
        const body = { component: 'web', version, ...k, ...(regions !== undefined ? { regions } : {}) }
        let accepted: Awaited<ReturnType<RolloutOperator['start']>> | undefined
        try { accepted = await op.start(body, signal) } catch (e: any) {
          outcomes.refused++
          assert.ok(typeof e.status === 'number' && e.status >= 400 && e.status < 600, e.message)
          assert.equal(config.writes.length, 0, `refused (${e.name as string}) yet wrote`)
          return
        }
        outcomes.accepted++
        assert.equal(config.writes.length, 1)
        const written = config.writes[0]
        checkRolloutEntry(written?.key as string, written?.value)
        assert.deepEqual(parseRollout(JSON.parse(JSON.stringify(written?.value))), accepted.rollout)
      }), { numRuns: 400 })
    assert.ok(outcomes.accepted > 10 && outcomes.refused > 10, JSON.stringify(outcomes))
  })
})
