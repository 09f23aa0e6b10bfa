/**
 * Deployments in replicated config with two real agent processes (issue
 * 13): `mycel component deploy` on one, the record readable on the other
 * through `mycel component deployments --json`; an invalid PUT straight to
 * the admin API is refused with 422 naming the field and stored nowhere;
 * `mycel component undeploy` removes it everywhere.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

describe('deployments with 2 agent processes', function () {
  this.timeout(120_000)
  let agents: AgentProcess[] = []

  before(async () => {
    const first = await AgentProcess.start()
    const second = await AgentProcess.start({ bootstrap: [first.addr] })
    agents = [first, second]
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === agents.length)
    }, 60_000, 'both agents to see each other alive')
  })

  after(async () => { await Promise.all(agents.map(async a => { await a.cleanup() })) })

  const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args], { timeout: 60_000 })).stdout
  const listed = async (a: AgentProcess): Promise<Array<Record<string, unknown>>> =>
    (JSON.parse(await cli('component', 'deployments', '--json', '--api', a.api)) as { deployments: Array<Record<string, unknown>> }).deployments

  it('deploy on one agent, read the record on the other', async () => {
    const out = await cli('component', 'deploy', 'web@1.2.0', '--region', 'test', '--count', '2', '--constraint', 'disk=ssd', '--wait-for', '1', '--api', agents[0].api)
    assert.match(out, /^web@1\.2\.0 deployed \(seq \d+\), acknowledged by 1 member/)
    await waitFor(async () => (await listed(agents[1])).length === 1, 30_000, 'the record on the second agent')
    assert.deepEqual(await listed(agents[1]), [{ name: 'web', version: '1.2.0', regions: ['test'], count: 2, constraints: { disk: 'ssd' }, writer: agents[0].peerId }])
  })

  it('an invalid PUT to the API is refused with 422 naming the field and stored nowhere', async () => {
    const bad = await agents[0].request('PUT', '/v1/deployments/bad', { version: '1.0.0', count: 0 })
    assert.equal(bad.status, 422)
    assert.match(JSON.stringify(bad.json), /count/)
    const notSemver = await agents[0].request('PUT', '/v1/deployments/bad', { version: 'latest' })
    assert.equal(notSemver.status, 422)
    assert.match(JSON.stringify(notSemver.json), /version/)
    // A valid write after the refused ones: once it is on the second agent, anything written before it would be too.
    const ok = await agents[0].request('PUT', '/v1/deployments/api?waitFor=1', { version: '2.0.0' })
    assert.equal(ok.status, 200, JSON.stringify(ok.json))
    await waitFor(async () => (await agents[1].request('GET', '/v1/deployments/api')).status === 200, 30_000, 'the valid record on the second agent')
    for (const a of agents) {
      assert.equal((await a.request('GET', '/v1/deployments/bad')).status, 404)
      assert.equal((await a.request('GET', '/v1/config/mycel.deployments/bad')).status, 404)
      assert.deepEqual((await listed(a)).map(d => d.name), ['api', 'web'])
    }
  })

  it('undeploy removes the record everywhere', async () => {
    const out = await cli('component', 'undeploy', 'web', '--wait-for', '1', '--api', agents[1].api)
    assert.match(out, /^web undeployed/)
    for (const a of agents) await waitFor(async () => (await listed(a)).every(d => d.name !== 'web'), 30_000, 'web gone')
  })
})
