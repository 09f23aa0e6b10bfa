import { strict as assert } from 'node:assert'
import pino from 'pino'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'
import { CommandService, commandTunables, CommandRefusedError, COMMAND_RESULT_PROTOCOL, COMMAND_TOPIC, type Execution } from '../../../protocols/command/index.js'
import { encodeAnswer, encodeRequest } from '../../../protocols/command/messages.js'
import { request } from '../../../wire/rpc.js'
import { logTracer } from '../../../wire/tracing.js'

const logger = pino({ level: 'silent' })

interface Node { id: string, region: string, key: PrivateKey, host: MemoryHost, svc: CommandService, registry: Registry, ran: string[] }

describe('protocols/command/service: fan-out through the gossip mesh, answers straight back', () => {
  let net: MemoryNetwork
  let nodes: Node[]
  const cfg = commandTunables.defaults('test')

  async function node (region: string, execute?: (name: string) => Promise<Execution>): Promise<Node> {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const host = net.host(id)
    const registry = new Registry()
    const ran: string[] = []
    const svc = new CommandService({
      config: cfg,
      tracer: logTracer(logger),
      isTarget: (t) => t.regions === undefined || t.regions.includes(region),
      expected: (t) => nodes.filter(n => t.regions === undefined || t.regions.includes(n.region)).map(n => n.id),
      execute: async (req) => { ran.push(req.name); return await (execute?.(req.name) ?? Promise.resolve({ ok: true, exitCode: null, output: `hi from ${region}\n` })) }
    }, { peerId: id, privateKey: key, logger, registry, pubsub: host.pubsub, rpc: host })
    return { id, region, key, host, svc, registry, ran }
  }

  const count = async (n: Node, metric: string, result: string): Promise<number> => {
    const m = (await n.registry.getSingleMetric(metric)?.get())?.values.find(v => v.labels.result === result)
    return m?.value ?? 0
  }

  beforeEach(async () => {
    net = new MemoryNetwork()
    nodes = []
    nodes.push(await node('a'), await node('b'), await node('c', async (name) => {
      if (name === 'hang') return await new Promise<Execution>(() => {})
      if (name === 'nope') throw new CommandRefusedError('undeclared', 'nope is not declared')
      return { ok: true, exitCode: null, output: 'hi from c\n' }
    }))
    // A line: a — b — c. c hears a's requests only through b.
    nodes[0].host.connect(nodes[1].host)
    nodes[1].host.connect(nodes[2].host)
    for (const n of nodes) await n.svc.start()
  })

  afterEach(async () => {
    for (const n of nodes) { await n.svc.stop(); n.host.stop() }
  })

  it('every target answers the originator, itself included; a refusal is an answer', async () => {
    const o = await nodes[0].svc.run({ name: 'ping', args: [], targets: {}, timeoutMs: 2_000 })
    assert.deepEqual(o.answers.map(a => a.node).sort(), nodes.map(n => n.id).sort())
    assert.deepEqual(o.missing, [])
    assert.ok(o.answers.every(a => a.ok))
    const refused = await nodes[0].svc.run({ name: 'nope', args: [], targets: { regions: ['c'] }, timeoutMs: 2_000 })
    assert.equal(refused.answers.length, 1)
    assert.match(refused.answers[0]?.error ?? '', /^undeclared: /)
  })

  it('a target that hangs is missing after the timeout; its late answer would be unsolicited', async () => {
    const started = Date.now()
    const o = await nodes[0].svc.run({ name: 'hang', args: [], targets: {}, timeoutMs: 300 })
    assert.ok(Date.now() - started < 2_000)
    assert.deepEqual(o.missing, [nodes[2].id])
    assert.equal(o.answers.length, 2)
  })

  it('drops forged, unsolicited and invalid answers, and rejects an expired request before forwarding it', async () => {
    const [a, b, c] = nodes as [Node, Node, Node]
    // An expired request from a: b refuses it in its validator (and tells a), c (reached only through b) never sees it.
    const now = Date.now()
    const stale = { v: 1 as const, id: 'e'.repeat(32), from: a.id, name: 'ping', args: [], targets: {}, issuedAt: now - 10_000, expires: now - 1 }
    await a.host.pubsub.publish(COMMAND_TOPIC, await encodeRequest(stale, a.key))
    const waitUntil = async (f: () => Promise<boolean>): Promise<void> => { for (let i = 0; i < 100 && !await f(); i++) await new Promise(resolve => setTimeout(resolve, 20)) }
    await waitUntil(async () => await count(b, 'mycel_commands_received_total', 'expired') === 1)
    assert.equal(await count(b, 'mycel_commands_received_total', 'expired'), 1)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.deepEqual(c.ran, [])
    assert.equal(await count(c, 'mycel_commands_received_total', 'expired'), 0, 'not forwarded')
    await waitUntil(async () => await count(a, 'mycel_command_answers_total', 'unsolicited') === 1)
    const answer = { v: 1 as const, id: 'f'.repeat(32), node: c.id, ok: true, exitCode: 0, output: 'x', durationMs: 1 }
    // Signed by c, sent by b: not straight back.
    await assert.rejects(request(b.host, a.host.peerId, COMMAND_RESULT_PROTOCOL, await encodeAnswer(answer, c.key), { timeoutMs: 1_000, maxBytes: 16 }))
    assert.equal(await count(a, 'mycel_command_answers_total', 'forged'), 1)
    // From c itself, for no request a has open.
    await request(c.host, a.host.peerId, COMMAND_RESULT_PROTOCOL, await encodeAnswer(answer, c.key), { timeoutMs: 1_000, maxBytes: 16 })
    // b's refusal of the hand-made expired request above was one too: a never had that request open.
    assert.equal(await count(a, 'mycel_command_answers_total', 'unsolicited'), 2)
    // Signed by someone else than the answer's node.
    await assert.rejects(request(c.host, a.host.peerId, COMMAND_RESULT_PROTOCOL, await encodeAnswer(answer, b.key), { timeoutMs: 1_000, maxBytes: 16 }))
    assert.equal(await count(a, 'mycel_command_answers_total', 'invalid'), 1)

    // A replay of a request already served is ignored, not run twice.
    const o = await a.svc.run({ name: 'ping', args: [], targets: { regions: ['b'] }, timeoutMs: 1_000 })
    assert.equal(o.answers.length, 1)
    await a.host.pubsub.publish(COMMAND_TOPIC, await encodeRequest(o.request, a.key))
    // Wait for the replay to reach b's validator (counted there), then check it did not run.
    for (const until = Date.now() + 2_000; await count(b, 'mycel_commands_received_total', 'replayed') < 1;) {
      assert.ok(Date.now() < until, 'the replay never reached the target')
      await new Promise(resolve => setImmediate(resolve))
    }
    assert.deepEqual(b.ran.filter(n => n === 'ping').length, 1)
  })
})
