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
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { LIBP2P_PROFILES } from '../../daemon/profiles.js'
import { membership, membershipConfig, type Membership, type MemberState } from '../../protocols/membership/index.js'

interface Agent { key: PrivateKey, dir: string, node: MycelNode, m: Membership & { metrics: any }, registry: Registry }

async function startAgent (key: PrivateKey, dir: string, bootstrap?: MycelNode): Promise<Agent> {
  const node = await createNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], profile: LIBP2P_PROFILES.test })
  await node.start()
  const registry = new Registry()
  const m = membership({ config: membershipConfig('test'), region: 'r1', roles: ['network'], version: 'test', dataDir: dir })({
    node, peerId: node.peerId.toString(), privateKey: key, region: 'r1', logger: pino({ level: process.env.MYCEL_TEST_LOG ?? 'silent' }), registry, signal: new AbortController().signal
  })
  await m.start()
  if (bootstrap !== undefined) await node.dial(bootstrap.getMultiaddrs()[0])
  return { key, dir, node, m, registry }
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
      await a.node.stop().catch(() => {})
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
    assert.match(metrics, /mycel_probe_duration_seconds_count\{result="ack"\} [1-9]/)
    console.log(`      join ${joinMs} ms, killed member dead everywhere after ${detectMs} ms`)
  })
})
