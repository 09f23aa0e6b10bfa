/**
 * Placement of a counted deployment by the region's network manager, with
 * 4 real agent processes (issue 13 point 5): `mycel component deploy
 * web@1.0.0 --count 2` makes a placement record naming 2 alive nodes (the
 * release need not exist: placement needs no artifact); after SIGKILL of
 * one placed agent, a record of the same or a newer term names 2 live
 * nodes, the dead one not among them. Every surviving agent reads the same
 * assignment (GET /v1/deployments/web, the highest term wins). Polls, never
 * sleeps.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { AgentProcess, CLI, startCluster, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

interface Shown { count?: number, placements?: Array<{ region: string, term: number, assignments: Array<{ node: string }> }> }

describe('placement of a counted deployment with 4 agent processes', function () {
  this.timeout(240_000)
  let agents: AgentProcess[] = []

  before(async () => {
    agents = await startCluster(4)
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === agents.length)
    }, 90_000, 'all 4 agents to see each other alive')
  })

  after(async () => { await Promise.all(agents.map(async a => { await a.cleanup() })) })

  /** The nodes the record in force on `a` assigns, with its term; undefined until there is one. */
  const placed = async (a: AgentProcess): Promise<{ term: number, nodes: string[] } | undefined> => {
    const r = await a.request('GET', '/v1/deployments/web')
    if (r.status !== 200) return undefined
    const p = (r.json as Shown).placements?.find(x => x.region === 'default')
    return p === undefined ? undefined : { term: p.term, nodes: p.assignments.map(x => x.node).sort() }
  }

  it('places 2 instances on alive nodes, and moves one off a SIGKILLed node', async () => {
    await run(process.execPath, [CLI, 'component', 'deploy', 'web@1.0.0', '--count', '2', '--api', agents[0].api], { timeout: 60_000 })
    const ids = new Set(agents.map(a => a.peerId))
    const first = await waitFor(async () => {
      const p = await placed(agents[0])
      return p !== undefined && p.nodes.length === 2 && p.nodes.every(n => ids.has(n)) ? p : undefined
    }, 60_000, 'a placement record naming 2 of the agents')
    // Every agent converges on the same record.
    for (const a of agents) await waitFor(async () => JSON.stringify((await placed(a))?.nodes) === JSON.stringify(first.nodes), 30_000, `the record on ${a.peerId}`)

    const victim = agents.find(a => a.peerId === first.nodes[0])!
    await victim.kill('SIGKILL')
    const alive = agents.filter(a => a !== victim)
    const aliveIds = new Set(alive.map(a => a.peerId))
    const moved = await waitFor(async () => {
      const p = await placed(alive[0])
      return p !== undefined && p.nodes.length === 2 && p.nodes.every(n => aliveIds.has(n)) ? p : undefined
    }, 90_000, 'a record naming 2 live nodes after the kill')
    assert.ok(moved.term >= first.term)
    assert.ok(!moved.nodes.includes(victim.peerId))
    // The instance that was not on the dead node stays where it was.
    assert.ok(moved.nodes.includes(first.nodes[1]), `kept ${first.nodes[1]}: ${JSON.stringify(moved)}`)
    for (const a of alive) await waitFor(async () => JSON.stringify((await placed(a))?.nodes) === JSON.stringify(moved.nodes), 30_000, `the new record on ${a.peerId}`)
  })
})
