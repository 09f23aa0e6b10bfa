/**
 * Real agent processes on loopback (issue 2): join, SIGKILL detection,
 * restart with the same identity, graceful leave.
 */
import { expect } from 'chai'
import { AgentProcess, startCluster, waitFor } from '../../harness/agent-process.js'

type View = Array<{ peerId: string, state: string, incarnation: number }>

const stateOf = (view: View, peerId: string): string | undefined => view.find(m => m.peerId === peerId)?.state

describe('membership with 5 agent processes', function () {
  this.timeout(180_000)
  let agents: AgentProcess[] = []

  before(async () => { agents = await startCluster(5) })
  after(async () => { await Promise.all(agents.map(async a => { await a.cleanup() })) })

  it('all 5 join through one bootstrap peer and see 5 alive', async () => {
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === 5)
    }, 30_000, 'all agents to see 5 alive')
    const view = await agents[2].members()
    expect(view.map(m => m.peerId).sort()).to.deep.equal(agents.map(a => a.peerId).sort())
  })

  it('marks a SIGKILLed agent dead everywhere, and alive again after restart with a higher incarnation', async () => {
    const victim = agents[3]
    const survivors = agents.filter(a => a !== victim)
    const before = (await survivors[0].members()).find(m => m.peerId === victim.peerId)!.incarnation
    await victim.kill('SIGKILL')
    await waitFor(async () => {
      const views = await Promise.all(survivors.map(async a => await a.members()))
      return views.every(v => stateOf(v, victim.peerId) === 'dead')
    }, 30_000, 'survivors to mark the killed agent dead')
    // No survivor was wrongly declared dead meanwhile.
    for (const s of survivors) {
      const v = await s.members()
      for (const other of survivors) expect(stateOf(v, other.peerId)).to.equal('alive')
    }

    await victim.spawn()
    expect(victim.peerId).to.equal(agents[3].peerId)
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === 5)
    }, 30_000, 'restarted agent alive everywhere')
    const after = (await survivors[0].members()).find(m => m.peerId === victim.peerId)!.incarnation
    expect(after).to.be.greaterThan(before)
  })

  it('shows a gracefully stopped agent as left, not dead', async () => {
    const leaver = agents[4]
    const rest = agents.slice(0, 4)
    expect(await leaver.stop()).to.equal(0)
    await waitFor(async () => {
      const views = await Promise.all(rest.map(async a => await a.members()))
      return views.every(v => stateOf(v, leaver.peerId) === 'left')
    }, 30_000, 'others to mark the leaver left')
  })
})
