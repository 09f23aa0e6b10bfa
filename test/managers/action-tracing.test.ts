/**
 * Trace context of fenced role actions (managers/actions.ts, docs/tracing.md):
 * an action emitted with a parent carries the holder's `acted` span in its
 * signed `tc`; a receiver records `received` and `applied` under it. A
 * periodic action (no parent) carries none and records nothing.
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FencedActions, ROLE_ACTION_SPAN } from '../../managers/actions.js'
import { rolesMetrics } from '../../managers/metrics.js'
import { FencingStore, LeaseBook, signLease, type ElectionEngine, type RoleAction } from '../../protocols/election/index.js'
import { logTracer, type FinishedSpan } from '../../wire/tracing.js'
import { formatTraceparent, newSpanId, newTraceId } from '../../wire/trace-context.js'
import { MemoryNetwork } from '../helpers/memory-host.js'

const logger = pino({ level: 'silent' })

async function until (cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('roles: traced fenced actions', () => {
  it('the holder records acted and signs its traceparent into the action; a receiver records received and applied under it', async () => {
    const keyA = await generateKeyPair('Ed25519')
    const keyB = await generateKeyPair('Ed25519')
    const a = peerIdFromPrivateKey(keyA).toString()
    const b = peerIdFromPrivateKey(keyB).toString()
    const net = new MemoryNetwork()
    const hostA = net.host(a)
    const hostB = net.host(b)
    hostA.connect(hostB)
    const now = Date.now()
    const lease = await signLease({ v: 1, region: 'eu', role: 'update', holder: a, term: 1, issuedAt: now, expiresAt: now + 60_000 }, keyA)
    const spansA: FinishedSpan[] = []
    const spansB: FinishedSpan[] = []
    const got: RoleAction[] = []
    const make = (peerId: string, key: typeof keyA, host: typeof hostA, spans: FinishedSpan[], dispatch: (x: RoleAction) => void): FencedActions => {
      const book = new LeaseBook()
      book.observe(lease)
      const election = { book, actingTerm: (role: string) => peerId === a && role === 'update' ? 1 : undefined } as unknown as ElectionEngine
      return new FencedActions({ pubsub: host.pubsub, peerId, privateKey: key, region: 'eu', logger, fencing: new FencingStore(), election, metrics: rolesMetrics(), dispatch, tracer: logTracer(logger, [s => { spans.push(s) }]) })
    }
    const holder = make(a, keyA, hostA, spansA, () => {})
    const receiver = make(b, keyB, hostB, spansB, (x) => { got.push(x) })
    holder.start()
    receiver.start()
    try {
      await until(() => hostA.pubsub.getSubscribers('mycel/role-actions/eu/1').length === 1)
      const caller = { traceId: newTraceId(), spanId: newSpanId() }
      assert.equal(await holder.emit('update', 'rollout', { id: 'r1' }, formatTraceparent({ ...caller, flags: '01' })), true)
      await until(() => spansB.length === 2)
      const acted = spansA.find(s => s.hop === 'acted')
      assert.deepEqual([acted?.name, acted?.traceId, acted?.parentSpanId, acted?.attrs.role, acted?.attrs.kind], [ROLE_ACTION_SPAN, caller.traceId, caller.spanId, 'update', 'rollout'])
      assert.equal(got[0]?.tc, formatTraceparent({ traceId: caller.traceId, spanId: acted?.spanId ?? '', flags: '01' }))
      const received = spansB.find(s => s.hop === 'received')
      const applied = spansB.find(s => s.hop === 'applied')
      assert.equal(received?.traceId, caller.traceId)
      assert.equal(received?.parentSpanId, acted?.spanId)
      assert.equal(applied?.parentSpanId, received?.spanId)
      // A periodic statement: no parent, no trace context, no spans.
      assert.equal(await holder.emit('update', 'update-status', { at: 1 }), true)
      await until(() => got.length === 2)
      assert.equal(got[1]?.tc, undefined)
      assert.equal(spansA.length, 1)
      assert.equal(spansB.length, 2)
    } finally {
      holder.stop()
      receiver.stop()
      hostA.stop()
      hostB.stop()
    }
  })
})
