/**
 * `mycel component deploy|undeploy|deployments` in-process (runCli): bad
 * input exits 2 with one line before the agent is contacted (checked with
 * the same parseDeployment receivers run); good input becomes the PUT the
 * admin API expects. A local HTTP server stands in for the agent and counts
 * what reaches it.
 */
import { expect } from 'chai'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

describe('CLI: component deploy / undeploy / deployments', () => {
  let agent: FakeAgentApi
  before(async () => { agent = await fakeAgentApi() })
  after(async () => { await agent.close() })
  beforeEach(() => { agent.seen.length = 0 })
  const run = async (...args: string[]): ReturnType<FakeAgentApi['run']> => await agent.run(...args)

  it('bad input exits 2 with one line naming the problem, and nothing reaches the agent', async () => {
    for (const [args, mentions] of [
      [['component', 'deploy', 'web'], 'NAME@VERSION'],
      [['component', 'deploy', '@1.0.0'], 'NAME@VERSION'],
      [['component', 'deploy', 'web@'], 'NAME@VERSION'],
      [['component', 'deploy', 'Web@1.0.0'], 'name:'],
      [['component', 'deploy', 'web@1.0'], 'version:'],
      [['component', 'deploy', 'web@latest'], 'version:'],
      [['component', 'deploy', 'web@1.0.0', '--count', '0'], 'count:'],
      [['component', 'deploy', 'web@1.0.0', '--count', '4097'], 'count:'],
      [['component', 'deploy', 'web@1.0.0', '--count', 'many'], '--count'],
      [['component', 'deploy', 'web@1.0.0', '--region', 'EU WEST'], 'regions.0:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', 'disk'], 'KEY=VALUE'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '=ssd'], 'KEY=VALUE'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '-bad=ssd'], 'constraints.-bad:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '__proto__=x'], 'constraints.__proto__:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', 'disk=ssd', '--constraint', 'disk=hdd'], 'disk given twice']
    ] as Array<[string[], string]>) {
      const r = await run(...args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.match(/^mycel: /)
      expect(r.stderr, args.join(' ')).to.include(mentions)
    }
    expect(agent.seen).to.deep.equal([])
  })

  it('deploy sends the parsed record (regions sorted, name in the path) with waitFor', async () => {
    agent.reply = { status: 200, body: { namespace: 'mycel.deployments', key: 'web', writer: 'w', seq: 3, acked: ['a'] } }
    const r = await run('component', 'deploy', 'web@1.2.0', '--region', 'us', '--region', 'eu', '--count', '2', '--constraint', 'disk=ssd', '--wait-for', '1')
    expect(r.code, r.stderr).to.equal(0)
    expect(agent.seen).to.have.length(1)
    expect(agent.seen[0].method).to.equal('PUT')
    expect(agent.seen[0].url).to.equal('/v1/deployments/web?waitFor=1')
    expect(JSON.parse(agent.seen[0].body)).to.deep.equal({ version: '1.2.0', regions: ['eu', 'us'], count: 2, constraints: { disk: 'ssd' } })
  })

  it('undeploy deletes and deployments lists', async () => {
    agent.reply = { status: 200, body: { deployments: [{ name: 'web', version: '1.2.0', writer: 'w' }] } }
    const list = await run('component', 'deployments', '--json')
    expect(list.code, list.stderr).to.equal(0)
    agent.reply = { status: 200, body: { deleted: true, seq: 4, acked: [] } }
    const del = await run('component', 'undeploy', 'web')
    expect(del.code, del.stderr).to.equal(0)
    expect(agent.seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['GET /v1/deployments', 'DELETE /v1/deployments/web'])
  })

  it('deployments NAME shows where a counted deployment is placed, per region', async () => {
    const shown = async (...args: string[]): Promise<string> => {
      const r = await run(...args)
      expect(r.code).to.equal(0)
      return r.stdout
    }
    agent.reply = { status: 200, body: { name: 'web', version: '1.2.0', count: 2, writer: 'w', placements: [{ region: 'eu', term: 7, writer: 'h', assignments: [{ node: '12D3KooWa', since: 0 }, { node: '12D3KooWb', since: 0 }] }] } }
    const table = await shown('component', 'deployments', 'web')
    expect(agent.seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['GET /v1/deployments/web'])
    expect(table).to.match(/REGION\s+TERM\s+NODE\s+SINCE/)
    expect(table).to.match(/eu\s+7\s+12D3KooWa\s+1970-01-01T00:00:00.000Z/)
    expect(table).to.match(/eu\s+7\s+12D3KooWb/)
    agent.reply = { status: 200, body: { name: 'sys', version: '1.0.0', writer: 'w' } }
    expect(await shown('component', 'deployments', 'sys')).to.include('system deployment')
    agent.reply = { status: 200, body: { name: 'web', version: '1.2.0', count: 2, writer: 'w', placements: [] } }
    expect(await shown('component', 'deployments', 'web')).to.include('not placed yet')
  })
})
