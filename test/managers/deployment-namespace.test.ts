/**
 * The built-in namespace `mycel.deployments` (managers/deployment.ts,
 * crdt/namespaces.ts BuiltinNamespaces): the writer refuses an invalid
 * record with a SchemaViolationError (422) naming the field and stores
 * nothing; a receiver fed the envelope bytes of an invalid record (written
 * by a node without the rule: an older or a modified release) does not show
 * it and counts it, as for a schema violation; valid records replicate
 * unchanged. Over generated records (fast-check). MYCEL_PROPERTY_RUNS=n
 * runs n cases each.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { checkDeploymentEntry, DEPLOYMENTS_NAMESPACE as NS, MAX_CONSTRAINTS, MAX_COUNT, parseDeployment } from '../../managers/deployment.js'
import { makeReplica } from '../crdt/fixtures.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const BUILTINS = { [NS]: checkDeploymentEntry }
const RUNS = Math.max(1, Math.floor(PROPERTY_RUNS / 4)) // each case builds three replicas

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/)
const version = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20), fc.constantFrom('', '-rc.1', '-beta.2')).map(([a, b, c, t]) => `${a}.${b}.${c}${t}`)
const region = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/)
const constraintKey = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,10}$/)

/** A valid record as JSON (as the API or a receiver sees it). */
const valid = fc.record({
  name,
  version,
  regions: fc.uniqueArray(region, { minLength: 1, maxLength: 5 }),
  count: fc.integer({ min: 1, max: MAX_COUNT }),
  constraints: fc.dictionary(constraintKey, fc.string({ maxLength: 20 }), { maxKeys: MAX_CONSTRAINTS })
}, { requiredKeys: ['name', 'version'] }).map(d => JSON.parse(JSON.stringify(d)) as { name: string, version: string }) // plain objects, as decoded JSON is

/** A valid record broken in one field, with the field the refusal must name. */
const invalid: fc.Arbitrary<{ value: unknown, field: string }> = fc.tuple(valid, fc.oneof(
  fc.record({ field: fc.constant('name'), v: fc.constantFrom('', 'Web', '-web', 'web-', 'a_b', 'x'.repeat(65), 7) }),
  fc.record({ field: fc.constant('version'), v: fc.constantFrom('', '1.2', 'v1.2.0', '01.2.0', 'latest', 1) }),
  fc.record({ field: fc.constant('count'), v: fc.constantFrom(0, -1, 1.5, MAX_COUNT + 1, '3', null) }),
  fc.record({ field: fc.constant('regions'), v: fc.constantFrom([], ['EU'], ['eu west'], 'eu', [1]) }),
  fc.record({ field: fc.constant('constraints'), v: fc.constantFrom({ '-k': 'v' }, { k: 1 }, { k: 'x'.repeat(257) }, Object.fromEntries(Array.from({ length: MAX_CONSTRAINTS + 1 }, (_, i) => [`k${i}`, 'v'])), ['k=v']) })
)).map(([d, { field, v }]) => ({ value: { ...d, [field]: v }, field }))

/** Writer with the rule, writer without it (an older or modified release), receiver with it. */
async function replicas (): Promise<{ ruled: Awaited<ReturnType<typeof makeReplica>>, unruled: Awaited<ReturnType<typeof makeReplica>>, receiver: Awaited<ReturnType<typeof makeReplica>> }> {
  return {
    ruled: await makeReplica(1, { builtins: BUILTINS }),
    unruled: await makeReplica(2),
    receiver: await makeReplica(3, { builtins: BUILTINS })
  }
}

/** The key a record is stored under: its name when it is a usable key, else any. */
const keyOf = (value: unknown): string => {
  const n = (value as { name?: unknown }).name
  return typeof n === 'string' && n !== '' ? n : 'web'
}

describe('mycel.deployments: the built-in namespace rule', () => {
  it('valid records are written and replicate unchanged; receivers show them', async () => {
    await fc.assert(fc.asyncProperty(valid, async (d) => {
      const { ruled, receiver } = await replicas()
      const w = await ruled.replica.write(NS, d.name, d)
      assert.ok(w !== undefined)
      assert.equal((await receiver.replica.ingest(w.bytes, 'gossip')).result, 'applied')
      assert.equal(receiver.counters.invalid, 0)
      assert.deepEqual(parseDeployment(receiver.replica.get(NS, d.name)?.value), parseDeployment(d))
      assert.deepEqual(receiver.replica.get(NS, d.name)?.value, ruled.replica.get(NS, d.name)?.value)
    }), { numRuns: RUNS })
  })

  it('the writer refuses an invalid record with a 422 naming the field, and stores nothing', async () => {
    await fc.assert(fc.asyncProperty(invalid, async ({ value, field }) => {
      const { ruled } = await replicas()
      const key = keyOf(value)
      await assert.rejects(ruled.replica.write(NS, key, value), (err: Error & { status?: number }) => {
        assert.equal(err.name, 'SchemaViolationError')
        assert.equal(err.status, 422)
        assert.match(err.message, new RegExp(`invalid deployment: ${field}\\b`))
        return true
      })
      assert.equal(ruled.replica.get(NS, key), undefined)
      assert.deepEqual(ruled.replica.entries(NS), [])
    }), { numRuns: RUNS })
  })

  it('a receiver fed the envelope of an invalid record does not show it and counts it, keeping the last valid one', async () => {
    await fc.assert(fc.asyncProperty(valid, invalid, async (good, broken) => {
      const { unruled, receiver } = await replicas()
      const key = good.name
      // Under the good record's key; a broken name stays broken (and differs from the key).
      const value = broken.field === 'name' ? broken.value : { ...(broken.value as object), name: key }
      const before = await unruled.replica.write(NS, key, good)
      assert.equal((await receiver.replica.ingest(before!.bytes, 'gossip')).result, 'applied')
      assert.equal(receiver.counters.invalid, 0)
      const bad = await unruled.replica.write(NS, key, value)
      assert.ok(bad !== undefined)
      await receiver.replica.ingest(bad.bytes, 'gossip')
      assert.equal(receiver.counters.invalid, 1)
      assert.deepEqual(receiver.replica.get(NS, key)?.value, good)
    }), { numRuns: RUNS })
  })

  it('refuses a record stored under another name than its own, at the writer and at a receiver', async () => {
    const { ruled, unruled, receiver } = await replicas()
    const d = { name: 'web', version: '1.0.0' }
    await assert.rejects(ruled.replica.write(NS, 'api', d), { name: 'SchemaViolationError', message: /name: "web" stored under key "api"/ })
    const bad = await unruled.replica.write(NS, 'api', d)
    await receiver.replica.ingest(bad!.bytes, 'sync')
    assert.equal(receiver.counters.invalid, 1)
    assert.equal(receiver.replica.get(NS, 'api'), undefined)
  })

  it('other namespaces are untouched by the rule', async () => {
    const { ruled } = await replicas()
    assert.ok(await ruled.replica.write('app', 'web', { version: 'not semver' }))
  })
})
