/**
 * How a join spreads, on real libp2p nodes (in-process, TCP loopback, the
 * `test` profile): the member a joiner first exchanges state with publishes
 * the joiner's record on gossipsub, every other member takes it from there,
 * and a member that got it from gossipsub sends no gossip rounds for it
 * (protocols/membership/gossip.ts, broadcast-queue.ts). Before, the
 * joiner's own publication went out before it had a peer, so every member
 * learned the record by probe and each sent its own rounds of pings. Nor does
 * a member in the mesh that happened to learn an update by probe first: on a
 * loaded host probes often win the race with gossipsub.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Counter } from 'prom-client'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import { MEMBERSHIP_TOPIC, PROBE_PROTOCOL } from '../../protocols/membership/index.js'
import { encode, signUpdate, type AliveBody } from '../../protocols/membership/messages.js'
import { request } from '../../wire/rpc.js'
import { encodeCbor } from '../../wire/codec.js'
import { waitFor } from '../../harness/agent-process.js'
import { startSwimNode, type SwimNode } from '../helpers/swim-node.js'

interface Agent extends SwimNode { dir: string, key: PrivateKey }

async function startAgent (bootstrap?: MycelNode): Promise<Agent> {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-spread-'))
  const key = await generateKeyPair('Ed25519')
  return { ...await startSwimNode(key, dir, { bootstrap }), dir, key }
}

const WAIT_MS = 20_000
const POLL_MS = 25

async function counter (a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = a.registry.getSingleMetric(name) as Counter | undefined
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.filter(v => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0)
}

// getMeshPeers is the gossipsub class's; the service's interface type does not list it.
const meshOf = (a: Agent): string[] => (a.node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(MEMBERSHIP_TOPIC)
const gossipPings = async (a: Agent): Promise<number> => await counter(a, 'mycel_membership_gossip_pings_total')
const published = async (a: Agent): Promise<number> => await counter(a, 'mycel_membership_bytes_total', { channel: 'gossip', direction: 'sent' })
const gossiped = async (a: Agent): Promise<number> => await counter(a, 'mycel_gossip_messages_total', { topic: MEMBERSHIP_TOPIC, result: 'accepted' })

/** Until no agent's gossip-ping count has moved for a second: nobody has anything left to spread. */
async function quiet (agents: Agent[]): Promise<void> {
  let last = await Promise.all(agents.map(gossipPings))
  let quietSince = Date.now()
  await waitFor(async () => {
    const now = await Promise.all(agents.map(gossipPings))
    if (now.some((x, i) => x !== last[i])) { last = now; quietSince = Date.now() }
    return Date.now() - quietSince >= 1_000
  }, WAIT_MS, 'gossip rounds to stop', POLL_MS)
}

describe('membership dissemination over real libp2p nodes', function () {
  this.timeout(90_000)
  const agents: Agent[] = []

  after(async () => {
    for (const a of agents) {
      await a.m.stop()
      await Promise.resolve(a.node.stop()).catch(() => {})
      await rm(a.dir, { recursive: true, force: true })
    }
  })

  before(async function () {
    this.timeout(90_000)
    for (let i = 0; i < 6; i++) agents.push(await startAgent(agents[0]?.node))
    await waitFor(() => agents.every(a => a.m.alivePeers().length === 5), WAIT_MS, '6 alive everywhere', POLL_MS)
    await waitFor(() => agents.every(a => meshOf(a).length > 0), WAIT_MS, 'a membership mesh on every node', POLL_MS)
  })

  it('a joiner\'s record reaches the members through gossipsub, and only the members that learned it first-hand send gossip rounds', async () => {
    await quiet(agents)
    const pingsBefore = await Promise.all(agents.map(gossipPings))
    const gossipedBefore = await Promise.all(agents.map(gossiped))
    const publishedBefore = await published(agents[1])

    // The joiner exchanges state with agents[1] first.
    const joiner = await startAgent(agents[1].node)
    const id = joiner.node.peerId.toString()
    await waitFor(() => agents.every(a => a.m.get(id)?.state === 'alive'), WAIT_MS, 'the joiner alive everywhere', POLL_MS)
    await waitFor(() => joiner.m.alivePeers().length === 6, WAIT_MS, 'the joiner sees the 6 others', POLL_MS)
    agents.push(joiner)
    // Let any rounds the join started run out.
    await quiet(agents)

    const others = [0, 2, 3, 4, 5]
    const viaGossip = []
    const sentRounds = []
    for (const i of others) {
      if (await gossiped(agents[i]) > gossipedBefore[i]) viaGossip.push(i)
      if (await gossipPings(agents[i]) > pingsBefore[i]) sentRounds.push(i)
    }
    assert.ok(viaGossip.length >= 4, `the joiner's record reached ${viaGossip.length} of 5 members through gossipsub (agents ${viaGossip.join(', ')})`)
    // One more may: a member the joiner probes before gossipsub brings it the record learns it first-hand too.
    assert.ok(sentRounds.length <= 1, `members that learned of the join second-hand sent gossip rounds: agents ${sentRounds.join(', ')}`)
    // It also drives gossip rounds for it, unless its probes and acks carried it often enough first.
    assert.ok(await published(agents[1]) > publishedBefore, 'the member that learned the record first-hand published it on gossipsub')
  })
  it('a member in the mesh that learns an update by probe before gossipsub sends no rounds for it, and passes the gossipsub copy on', async () => {
    await quiet(agents)
    const [target, subject] = [agents[2], agents[3]]
    const others = agents.filter(a => a !== target && a !== subject)
    assert.ok(meshOf(target).length > 0, 'the target is in the membership mesh')
    const pingsBefore = await gossipPings(target)
    const forwarded = async (): Promise<number> => await counter(target, 'mycel_gossip_messages_total', { topic: MEMBERSHIP_TOPIC, result: 'forwarded' })
    const forwardedBefore = await forwarded()
    // A newer record of `subject`, signed with its key, handed to `target` by a node that is no member: first in
    // a ping, then on the membership topic, the order a loaded host often sees an update in.
    const self = subject.m.self()
    const inc = self.incarnation + 1
    const newer = await signUpdate<AliveBody>(subject.key, { v: 1, t: 'alive', id: self.peerId, inc, region: self.region, roles: self.roles, addrs: self.addrs, ver: self.version, ts: Date.now() })
    const courier = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test') })
    await courier.start()
    try {
      courier.services.pubsub.subscribe(MEMBERSHIP_TOPIC)
      await courier.dial(target.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(10_000) })
      await request(courier, target.node.peerId, PROBE_PROTOCOL, encodeCbor({ v: 1, t: 'ping', seq: 1, u: [newer.raw] }), { timeoutMs: 10_000, maxBytes: 1 << 20 })
      await waitFor(() => (target.m.get(self.peerId)?.incarnation ?? 0) >= inc, WAIT_MS, 'the target to apply the newer record', POLL_MS)
      // Rounds would start within a gossip interval of the apply; `quiet` waits a second past the last one anywhere.
      await quiet(agents)
      assert.equal(await gossipPings(target), pingsBefore, 'the target sent gossip rounds for an update it learned by probe')
      await waitFor(() => courier.services.pubsub.getSubscribers(MEMBERSHIP_TOPIC).some(p => p.equals(target.node.peerId)), WAIT_MS, 'the courier to see the target on the topic', POLL_MS)
      await courier.services.pubsub.publish(MEMBERSHIP_TOPIC, encode(newer.raw))
      // No news to the target any more, but its first gossipsub copy goes on through the mesh.
      await waitFor(async () => await forwarded() === forwardedBefore + 1, WAIT_MS, 'the target to pass the gossipsub copy on', POLL_MS)
    } finally {
      await courier.stop()
    }
    await waitFor(() => others.every(a => (a.m.get(self.peerId)?.incarnation ?? 0) >= inc), WAIT_MS, 'every member to have the newer record', POLL_MS)
  })
})
