/**
 * In-process integration: four real libp2p nodes over TCP on 127.0.0.1 with
 * the `test` profile. They join through one bootstrap peer and converge to
 * all-alive; one is stopped abruptly (no leave) and the others mark it dead;
 * one leaves gracefully and the others show `left`; the killed one restarts
 * with the same identity and a higher incarnation and is alive again.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Registry } from 'prom-client'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import { MEMBERSHIP_TOPIC, PROBE_PROTOCOL, PUSH_PULL_PROTOCOL, type Membership, type MemberState } from '../../protocols/membership/index.js'
import { signUpdate, type AliveBody, type LeftBody } from '../../protocols/membership/messages.js'
import { request } from '../../wire/rpc.js'
import { RPC_MUX_PROTOCOL } from '../../wire/rpc-mux.js'
import { encodeCbor } from '../../wire/codec.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { startSwimNode } from '../helpers/swim-node.js'

interface Agent { key: PrivateKey, dir: string, node: MycelNode, m: Membership & { metrics: any }, registry: Registry }

async function startAgent (key: PrivateKey, dir: string, bootstrap?: MycelNode): Promise<Agent> {
  const { node, m, registry } = await startSwimNode(key, dir, { bootstrap, roles: ['network'] })
  return { key, dir, node, m: m as Agent['m'], registry }
}

async function waitFor (what: string, cond: () => boolean, timeoutMs = 15_000): Promise<number> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return Date.now() - start
}

const stateOf = (a: Agent, b: Agent): MemberState | undefined => a.m.get(b.node.peerId.toString())?.state

describe('membership over real libp2p nodes (in-process, TCP loopback)', function () {
  this.timeout(90_000)
  const agents: Agent[] = []
  const dirs: string[] = []

  after(async () => {
    for (const a of agents) {
      await a.m.stop()
      await Promise.resolve(a.node.stop()).catch(() => {})
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('converges, detects an abrupt stop, shows a graceful leave and re-admits a restarted node', async () => {
    for (let i = 0; i < 4; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'mycel-swim-'))
      dirs.push(dir)
      agents.push(await startAgent(await generateKeyPair("Ed25519"), dir, agents[0]?.node))
    }
    const [a, b, c, d] = agents
    const joinMs = await waitFor('all alive everywhere', () => agents.every(x => x.m.alivePeers().length === 3))
    for (const x of agents) assert.deepEqual(x.m.members().map(m => m.state), ['alive', 'alive', 'alive', 'alive'])
    assert.deepEqual(a.m.get(b.node.peerId.toString())?.roles, ['network'])
    // Probes travel on request-mux sessions (wire/rpc-mux.ts), not on a stream each.
    await waitFor('a request-mux session on every node', () => agents.every(x => x.node.getConnections().some(conn => conn.streams.some(s => s.protocol === RPC_MUX_PROTOCOL))))

    // Abrupt stop of C: no leave, its sockets just close.
    const cIncBefore = c.m.self().incarnation
    await c.m.stop()
    const killedAt = Date.now()
    await c.node.stop()
    const detectMs = await waitFor('C dead at A, B, D', () => [a, b, d].every(x => stateOf(x, c) === 'dead'))
    assert.ok(Date.now() - killedAt < 5_000)

    // Graceful leave of D.
    await d.m.leave()
    await d.node.stop()
    await waitFor('D left at A, B', () => [a, b].every(x => stateOf(x, d) === 'left'))

    // C restarts with the same identity and data dir: higher incarnation, alive again.
    agents[2] = await startAgent(c.key, c.dir, a.node)
    const c2 = agents[2]
    assert.ok(c2.m.self().incarnation > cIncBefore, 'restart must raise the incarnation')
    await waitFor('restarted C alive at A and B', () => [a, b].every(x => stateOf(x, c2) === 'alive'))
    await waitFor('restarted C sees A, B alive and D left', () => stateOf(c2, a) === 'alive' && stateOf(c2, b) === 'alive' && stateOf(c2, d) === 'left')

    // No live member was ever declared dead.
    assert.equal(stateOf(a, b), 'alive')
    assert.equal(stateOf(b, a), 'alive')
    const metrics = await a.registry.metrics()
    assert.match(metrics, /mycel_members\{state="alive"\} 3/)
    // Probes are timed: A must record at least one answered probe (direct
    // or indirect). Polled: on a loaded host the restarted member's join
    // grace can hold A's probes back for a while.
    const answered = /mycel_probe_duration_seconds_count\{result="(ack|indirect)"\} [1-9]/
    let probed = await a.registry.metrics()
    for (const deadline = Date.now() + 20_000; !answered.test(probed) && Date.now() < deadline;) {
      await new Promise(resolve => setTimeout(resolve, 100))
      probed = await a.registry.metrics()
    }
    assert.match(probed, answered)
    console.log(`      join ${joinMs} ms, killed member dead everywhere after ${detectMs} ms`)
  })
})

describe('membership over real libp2p nodes: hostile input', function () {
  this.timeout(60_000)
  const agents: Agent[] = []
  const dirs: string[] = []
  let attacker: MycelNode | undefined

  after(async () => {
    if (attacker !== undefined) await Promise.resolve(attacker.stop()).catch(() => {})
    for (const a of agents) {
      await a.m.stop()
      await Promise.resolve(a.node.stop()).catch(() => {})
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('drops garbage, forged and replayed updates, counts them, and keeps working', async () => {
    for (let i = 0; i < 2; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'mycel-swim-'))
      dirs.push(dir)
      agents.push(await startAgent(await generateKeyPair('Ed25519'), dir, agents[0]?.node))
    }
    const [a, b] = agents
    await waitFor('2 alive', () => agents.every(x => x.m.alivePeers().length === 1))
    const bId = b.node.peerId.toString()
    const bInc = b.m.self().incarnation

    const evilKey = await generateKeyPair('Ed25519')
    attacker = await createNode({ privateKey: evilKey, listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test') })
    await attacker.start()
    const host = attacker
    const target = a.node.peerId
    const opts = { timeoutMs: 10_000, maxBytes: 1 << 20 }
    attacker.services.pubsub.subscribe(MEMBERSHIP_TOPIC)
    await attacker.dial(a.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })

    // Garbage on the probe and push-pull protocols: the stream is aborted, nothing else happens.
    await assert.rejects(request(host, target, PROBE_PROTOCOL, new Uint8Array([0xff, 0x00, 0x13, 0x37]), opts))
    await assert.rejects(request(host, target, PUSH_PULL_PROTOCOL, new Uint8Array(100).fill(0xa5), opts))

    // A forged leave for B (signed by the attacker) and a fake member signed by the wrong key.
    const forgedLeft = await signUpdate<LeftBody>(evilKey, { v: 1, t: 'left', id: bId, inc: bInc + 5, ts: Date.now() })
    const ghostKey = await generateKeyPair('Ed25519')
    const ghostId = peerIdFromPrivateKey(ghostKey).toString()
    const ghost = await signUpdate<AliveBody>(evilKey, { v: 1, t: 'alive', id: ghostId, inc: 1, region: 'r1', roles: [], addrs: [], ver: 'x', ts: Date.now() })
    // A replay of B's own record at an old incarnation.
    const stale = await signUpdate<AliveBody>(b.key, { v: 1, t: 'alive', id: bId, inc: 0, region: 'r1', roles: [], addrs: [], ver: 'x', ts: 0 })
    const counter = async (name: string, labels: Record<string, string>): Promise<number> => {
      const m = (await a.registry.getMetricsAsJSON()).find(x => x.name === name)
      return (m?.values ?? []).filter(v => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + Number(v.value), 0)
    }
    const duplicatesBefore = await counter('mycel_membership_messages_total', { type: 'update', result: 'duplicate' })
    const ack = await request(host, target, PROBE_PROTOCOL, encodeCbor({ v: 1, t: 'ping', seq: 1, u: [forgedLeft.raw, ghost.raw, stale.raw, { b: new Uint8Array([1, 2, 3]), s: new Uint8Array(64) }, stale.raw, forgedLeft.raw] }), opts)
    assert.ok(ack.byteLength > 0, 'a ping with bad updates is still acked')

    // Garbage on the gossipsub topic.
    await waitFor('attacker sees A on the topic', () => attacker!.services.pubsub.getSubscribers(MEMBERSHIP_TOPIC).length > 0)
    await attacker.services.pubsub.publish(MEMBERSHIP_TOPIC, new Uint8Array([9, 9, 9]))
    await attacker.services.pubsub.publish(MEMBERSHIP_TOPIC, encodeCbor(forgedLeft.raw))

    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && (await counter('mycel_gossip_messages_total', { topic: MEMBERSHIP_TOPIC, result: 'malformed' })) < 1) await new Promise(resolve => setTimeout(resolve, 50))

    assert.ok(await counter('mycel_membership_messages_total', { type: 'ping', result: 'malformed' }) >= 1, 'garbage ping counted')
    assert.ok(await counter('mycel_membership_messages_total', { type: 'left', result: 'bad_signature' }) >= 2, 'forged left counted, its copy checked again: a rejected update is not remembered as seen')
    assert.ok(await counter('mycel_membership_messages_total', { type: 'alive', result: 'bad_signature' }) >= 1, 'forged alive counted')
    assert.ok(await counter('mycel_membership_messages_total', { type: 'alive', result: 'stale' }) >= 1, 'replay counted')
    assert.ok(await counter('mycel_membership_messages_total', { type: 'update', result: 'duplicate' }) > duplicatesBefore, 'the replay\'s exact copy dropped undecoded')
    assert.ok(await counter('mycel_membership_messages_total', { type: 'update', result: 'malformed' }) >= 1, 'bad body counted')
    assert.ok(await counter('mycel_gossip_messages_total', { topic: MEMBERSHIP_TOPIC, result: 'malformed' }) >= 1, 'gossip garbage counted')

    assert.equal(a.m.get(bId)?.state, 'alive')
    assert.equal(a.m.get(ghostId), undefined)
    assert.equal(a.m.members().length, 2)
    // Still working: B's metadata change reaches A.
    b.m.updateSelf({ roles: ['update'] })
    await waitFor('metadata change seen', () => a.m.get(bId)?.roles[0] === 'update')
    assert.ok((a.m.get(bId)?.incarnation ?? 0) > bInc)
  })
})
