/**
 * Partition and heal with real agent processes. The partition is the
 * test-only connection-gater control (daemon/test-hooks.ts: test
 * profile + MYCEL_TEST_HOOKS=1): each side refuses and hangs up the other
 * side's connections, so gossip, SWIM and anti-entropy are all cut, as in a
 * real network split, without needing root for network namespaces.
 */
import assert from 'node:assert/strict'
import { AgentProcess, startCluster, waitFor } from '../../harness/agent-process.js'

const WRITES_PER_SIDE = 25

async function keys (a: AgentProcess, ns: string): Promise<string[]> {
  return Object.keys((await a.get(`/v1/config/${ns}`)).entries).sort()
}

describe('replicated config across a partition (4 agent processes)', function () {
  this.timeout(240_000)
  let agents: AgentProcess[] = []

  before(async () => {
    agents = await startCluster(4, { env: { MYCEL_TEST_HOOKS: '1' } })
    await waitFor(async () => (await Promise.all(agents.map(async a => await a.members()))).every(v => v.filter(m => m.state === 'alive').length === 4), 60_000, 'all alive')
  })
  after(async () => { await Promise.all(agents.map(async a => { await a.cleanup() })) })

  it('writes on both sides of a partition all reach every agent after it heals', async () => {
    const sides = [agents.slice(0, 2), agents.slice(2)]
    const partition = async (deny: (a: AgentProcess) => string[]): Promise<void> => {
      for (const a of agents) {
        const r = await a.request('POST', '/v1/test/partition', { deny: deny(a) })
        assert.equal(r.status, 200, JSON.stringify(r.json))
      }
    }
    await partition(a => (sides[0].includes(a) ? sides[1] : sides[0]).map(x => x.peerId))
    // Writes on both sides while split; interleaved so both sides write concurrently.
    for (let i = 0; i < WRITES_PER_SIDE; i++) {
      await Promise.all([
        sides[0][i % 2].request('PUT', `/v1/config/split/a${i}`, { value: i }),
        sides[1][i % 2].request('PUT', `/v1/config/split/b${i}`, { value: i })
      ])
    }
    // Also one contested key written on both sides.
    await Promise.all([sides[0][0].request('PUT', '/v1/config/split/both', { value: 'A' }), sides[1][0].request('PUT', '/v1/config/split/both', { value: 'B' })])
    await waitFor(async () => (await keys(sides[0][1], 'split')).length === WRITES_PER_SIDE + 1, 20_000, 'side A to converge internally')
    // The partition holds: side B has none of side A's keys.
    assert.ok((await keys(sides[1][1], 'split')).every(k => !k.startsWith('a')))

    await partition(() => [])
    const expected = [...Array.from({ length: WRITES_PER_SIDE }, (_, i) => [`a${i}`, `b${i}`]).flat(), 'both'].sort()
    await waitFor(async () => (await Promise.all(agents.map(async a => await keys(a, 'split')))).every(k => JSON.stringify(k) === JSON.stringify(expected)), 60_000, 'every agent to hold both sides\' writes')
    const contested = await Promise.all(agents.map(async a => (await a.get('/v1/config/split/both')).value))
    assert.ok(contested.every(v => v === contested[0]), `contested key diverged: ${JSON.stringify(contested)}`)
  })
})
