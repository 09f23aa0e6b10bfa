/**
 * How a join spreads, on real libp2p nodes (in-process, TCP loopback, the
 * `test` profile): the member a joiner first exchanges state with publishes
 * the joiner's record on gossipsub, every other member takes it from there,
 * and a member that got it from gossipsub sends no gossip rounds for it
 * (protocols/membership/gossip.ts, broadcast-queue.ts). Before, the
 * joiner's own publication went out before it had a peer, so every member
 * learned the record by probe and each sent its own rounds of pings.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Counter } from 'prom-client'
import type { MycelNode } from '../../daemon/node.js'
import { MEMBERSHIP_TOPIC } from '../../protocols/membership/index.js'
import { waitFor } from '../../harness/agent-process.js'
import { startSwimNode, type SwimNode } from '../helpers/swim-node.js'

interface Agent extends SwimNode { dir: string }

async function startAgent (bootstrap?: MycelNode): Promise<Agent> {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-spread-'))
  return { ...await startSwimNode(await generateKeyPair('Ed25519'), dir, { bootstrap }), dir }
}

const WAIT_MS = 20_000
const POLL_MS = 25

async function counter (a: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = a.registry.getSingleMetric(name) as Counter | undefined
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.filter(v => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0)
}

const gossipPings = async (a: Agent): Promise<number> => await counter(a, 'mycel_membership_gossip_pings_total')
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

  it('a joiner\'s record reaches the members through gossipsub, and only the members that learned it first-hand or by probe send gossip rounds', async () => {
    for (let i = 0; i < 6; i++) agents.push(await startAgent(agents[0]?.node))
    await waitFor(() => agents.every(a => a.m.alivePeers().length === 5), WAIT_MS, '6 alive everywhere', POLL_MS)
    // getMeshPeers is the gossipsub class's; the service's interface type does not list it.
    const meshOf = (a: Agent): string[] => (a.node.services.pubsub as unknown as { getMeshPeers: (topic: string) => string[] }).getMeshPeers(MEMBERSHIP_TOPIC)
    await waitFor(() => agents.every(a => meshOf(a).length > 0), WAIT_MS, 'a membership mesh on every node', POLL_MS)
    await quiet(agents)
    const pingsBefore = await Promise.all(agents.map(gossipPings))
    const gossipedBefore = await Promise.all(agents.map(gossiped))

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
    assert.ok(sentRounds.length <= 1, `members that learned of the join second-hand sent gossip rounds: agents ${sentRounds.join(', ')}`)
    assert.ok(await gossipPings(agents[1]) > pingsBefore[1], 'the member that learned the record first-hand spreads it too (gossipsub may not reach everyone)')
  })
})
