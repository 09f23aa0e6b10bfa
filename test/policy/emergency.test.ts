/**
 * The emergency record's one rule (policy/emergency.ts), run where a value
 * enters: the API before it proposes (daemon/api/routes/emergency.ts), the
 * validators' key rule on every `emergency/<scope>` entry and genesis value,
 * and every node's namespace rule on `mycel.emergency`. The same verdict
 * everywhere, for any input (fast-check); a bad value is refused at the
 * proposer and nothing is proposed.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import pino from 'pino'
import { checkEmergencyEntry, EMERGENCY_KEY_RULE, EMERGENCY_PREFIX, MAX_FREEZE_REASON_CHARS, type FreezeState } from '../../policy/emergency.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { checkGenesisValues } from '../../protocols/bft/critical-state.js'
import type { Genesis } from '../../protocols/bft/genesis.js'
import { parseTraceparent } from '../../wire/trace-context.js'
import { logTracer } from '../../wire/tracing.js'
import { emergencyRoutes, withFreezeHold, type HeldRolloutView } from '../../daemon/api/routes/emergency.js'
import type { RolloutView } from '../../managers/rollout/view.js'
import { statusText } from '../../daemon/cli/rollout.js'
import { configFreezes, criticalFreezes, type FreezeSource } from '../../daemon/control-wiring.js'
import { callRoute } from '../helpers/route-call.js'

/** The validators' verdict on `key = value`: the key rules as critical state runs them (here through the genesis check, the same lookup). */
function validatorsAccept (key: string, value: string): boolean {
  try {
    checkGenesisValues({ values: { [key]: value } } as unknown as Genesis, POLICY_KEY_RULES)
    return true
  } catch { return false }
}

function receiversAccept (scope: string, value: unknown): boolean {
  try { checkEmergencyEntry(scope, value); return true } catch { return false }
}

describe('emergency record: one rule wherever it enters', () => {
  it('critical key rule and namespace rule agree on every input', () => {
    const scope = fc.oneof(fc.constant('*'), fc.constant('eu'), fc.constant('EU'), fc.constant('a/b'), fc.constant(''), fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}$/))
    const record = fc.record({
      v: fc.oneof(fc.constant(1), fc.constant(2)),
      frozen: fc.boolean(),
      reason: fc.string({ maxLength: MAX_FREEZE_REASON_CHARS + 5 }),
      at: fc.oneof(fc.nat(), fc.constant(-1), fc.constant(1.5)),
      tc: fc.option(fc.string({ maxLength: 300 }), { nil: undefined })
    }, { requiredKeys: ['v', 'frozen', 'reason', 'at'] })
    fc.assert(fc.property(scope, record, (s, r) => {
      assert.equal(validatorsAccept(EMERGENCY_PREFIX + s, JSON.stringify(r)), receiversAccept(s, r))
    }), { numRuns: 500 })
  })

  it('refuses a freeze without a reason, a deletion, a bad scope and extra fields', () => {
    const ok = { v: 1, frozen: true, reason: 'bad release', at: 1 }
    assert.ok(receiversAccept('*', ok))
    assert.ok(!receiversAccept('*', { ...ok, reason: '  ' }))
    assert.ok(receiversAccept('*', { ...ok, frozen: false, reason: '' }), 'a thaw needs no reason')
    assert.ok(!receiversAccept('Eu', ok))
    assert.ok(!receiversAccept('*', { ...ok, by: 'someone' }), 'who froze is the signer, never a field')
    assert.throws(() => { EMERGENCY_KEY_RULE[1](null, 'emergency/*') }, /cannot be deleted/)
  })
})

describe('emergency routes', () => {
  const tracer = logTracer(pino({ level: 'silent' }))
  function withCritical (): { routes: ReturnType<typeof emergencyRoutes>, proposed: Array<[string, string]>, state: Map<string, string> } {
    const state = new Map<string, string>()
    const proposed: Array<[string, string]> = []
    const source: FreezeSource = {
      kind: 'critical',
      records: () => [...state].map(([key, value]): FreezeState => ({ scope: key.slice(EMERGENCY_PREFIX.length), record: JSON.parse(value), by: 'admin-a', height: 1 }))
    }
    const routes = emergencyRoutes({
      control: { status: () => ({ state: 'services', since: 0, reason: 'minimal core ready', freezes: 0, core: { ready: true } }) },
      source,
      critical: {
        propose: async (key: string, value: string | null) => {
          // The validators run the key rules on every entry: a value refused here would never commit.
          if (value === null || !validatorsAccept(key, value)) throw new Error('validators refused the entry')
          proposed.push([key, value])
          state.set(key, value)
          return { id: 'x', height: proposed.length, certificate: {} as never, latencyMs: 3 }
        }
      },
      config: { write: async () => { throw new Error('no config writes with a genesis') } },
      tracer
    })
    return { routes, proposed, state }
  }

  it('a bad value is refused at the proposer with the receivers\' rule (422), and nothing is proposed', async () => {
    const w = withCritical()
    const long = await callRoute(w.routes, 'POST', '/v1/emergency/freeze', { body: { reason: 'x'.repeat(MAX_FREEZE_REASON_CHARS + 1) } })
    assert.equal(long.status, 422)
    assert.match(long.json.error, /reason/)
    const empty = await callRoute(w.routes, 'POST', '/v1/emergency/freeze', { body: { reason: ' ' } })
    assert.equal(empty.status, 422)
    const scope = await callRoute(w.routes, 'POST', '/v1/emergency/freeze', { body: { region: 'Not A Region', reason: 'x' } })
    assert.equal(scope.status, 422)
    assert.equal(w.proposed.length, 0)
  })

  it('freeze proposes emergency/<scope> with a trace context; a second freeze and a thaw of nothing are 409s naming what is frozen', async () => {
    const w = withCritical()
    const r = await callRoute(w.routes, 'POST', '/v1/emergency/freeze', { body: { region: 'eu', reason: 'bad release' } })
    assert.equal(r.status, 200, JSON.stringify(r.json))
    assert.equal(w.proposed[0]?.[0], 'emergency/eu')
    const rec = JSON.parse(w.proposed[0]?.[1] ?? '{}')
    assert.equal(rec.frozen, true)
    assert.ok(parseTraceparent(rec.tc) !== undefined, 'the record carries a traceparent')
    assert.equal((await callRoute(w.routes, 'POST', '/v1/emergency/freeze', { body: { region: 'eu', reason: 'again' } })).status, 409)
    const thawAll = await callRoute(w.routes, 'POST', '/v1/emergency/thaw', { body: {} })
    assert.equal(thawAll.status, 409)
    assert.match(thawAll.json.error, /frozen: eu .*--region eu/)
    const thaw = await callRoute(w.routes, 'POST', '/v1/emergency/thaw', { body: { region: 'eu' } })
    assert.equal(thaw.status, 200)
    assert.equal(JSON.parse(w.state.get('emergency/eu') ?? '{}').frozen, false)
    const view = await callRoute(w.routes, 'GET', '/v1/emergency')
    assert.equal(view.json.records[0].scope, 'eu')
  })

  it('who froze is the signer: the critical entry\'s admin, the envelope\'s writer', () => {
    const rec = JSON.stringify({ v: 1, frozen: true, reason: 'r', at: 5 })
    const fromCritical = criticalFreezes({
      entries: () => [
        { key: 'emergency/*', value: rec, height: 4, certificate: { block: { entries: [{ key: 'emergency/*', admin: '12D3KooAdmin' }] } } as never },
        { key: 'admission', value: '{}', height: 1, certificate: null }
      ]
    })
    assert.deepEqual(fromCritical.map(f => [f.scope, f.by, f.height]), [['*', '12D3KooAdmin', 4]])
    const bad: string[] = []
    const fromConfig = configFreezes({ entries: () => [['eu', { value: JSON.parse(rec), writer: '12D3KooWriter' }], ['us', { value: { nope: 1 } }]] }, (k) => bad.push(k))
    assert.deepEqual(fromConfig.map(f => [f.scope, f.by]), [['eu', '12D3KooWriter']])
    assert.deepEqual(bad, ['us'])
  })
})

describe('rollouts held by a freeze', () => {
  it('a running rollout in a frozen region is marked held (and shown so); another region\'s freeze or a closed rollout is not', async () => {
    const view = (id: string, region: string | null, state: string): RolloutView => ({
      id, component: 'web', from: '1.0.0', to: '2.0.0', state, wave: null, waves: [], nodes: {}, region, lastStable: '1.0.0',
      regions: [{ region: region ?? 'eu', state: 'running', waves: [] }], control: { state: 'running', at: 0, promoted: false }, createdAt: 0, knobs: {} as never
    } as unknown as RolloutView)
    const views = [view('r1', 'eu', 'running'), view('r2', 'us', 'running'), view('r3', null, 'succeeded')]
    const records: FreezeState[] = [{ scope: 'eu', by: 'admin-a', record: { v: 1, frozen: true, reason: 'bad release', at: Date.now() } }]
    const op = withFreezeHold({ start: async () => { throw new Error('unused') }, list: () => views, get: (id: string) => views.find(v => v.id === id) as RolloutView, control: async () => { throw new Error('unused') } } as never, () => records)
    const listed = op.list() as HeldRolloutView[]
    assert.deepEqual(listed.map(v => v.held?.scope), ['eu', undefined, undefined])
    assert.match(statusText(op.get('r1')), /held by an emergency freeze \(region eu, by admin-a, .*\): bad release; it resumes where it is on thaw/)
    records.push({ scope: '*', by: 'admin-b', record: { v: 1, frozen: true, reason: 'all stop', at: Date.now() } })
    assert.equal((op.get('r2') as HeldRolloutView).held?.scope, '*')
  })
})
