/**
 * `mycel rollout ...` in-process (runCli): bad arguments exit 2 with one
 * line naming the flag before the agent is contacted; start sends the
 * request and prints only the id; the agent's refusal exits 1 with its
 * line; status prints a line per rollout, waves per region and nodes. A
 * local HTTP server stands in for the agent.
 */
import { expect } from 'chai'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

describe('CLI: rollout', () => {
  let agent: FakeAgentApi
  before(async () => { agent = await fakeAgentApi() })
  after(async () => { await agent.close() })
  beforeEach(() => { agent.seen.length = 0 })
  const run = async (...args: string[]): ReturnType<FakeAgentApi['run']> => await agent.run(...args)

  it('bad arguments exit 2 with one line naming the problem, and nothing reaches the agent', async () => {
    for (const [args, mentions] of [
      [['rollout', 'start', 'web'], 'NAME@VERSION'],
      [['rollout', 'start', 'web@'], 'NAME@VERSION'],
      [['rollout', 'start', 'Web@1.0.0'], 'NAME:'],
      [['rollout', 'start', 'web@1.0'], 'VERSION:'],
      [['rollout', 'start', 'web@2.0.0', '--max-parallel', '0'], '--max-parallel'],
      [['rollout', 'start', 'web@2.0.0', '--max-parallel', '101%'], '--max-parallel'],
      [['rollout', 'start', 'web@2.0.0', '--max-parallel', 'half'], '--max-parallel'],
      [['rollout', 'start', 'web@2.0.0', '--min-healthy-time', '10'], '--min-healthy-time'],
      [['rollout', 'start', 'web@2.0.0', '--min-healthy-time', '25h'], '--min-healthy-time'],
      [['rollout', 'start', 'web@2.0.0', '--min-healthy-time', '6m'], '--min-healthy-time: must be less than --healthy-deadline'],
      [['rollout', 'start', 'web@2.0.0', '--healthy-deadline', '11m'], '--healthy-deadline: must not exceed --progress-deadline'],
      [['rollout', 'start', 'web@2.0.0', '--canary', '-1'], '--canary'],
      [['rollout', 'start', 'web@2.0.0', '--max-unavailable', '0'], '--max-unavailable'],
      [['rollout', 'start', 'web@2.0.0', '--region', 'EU WEST'], '--region'],
      [['rollout', 'start', 'web@2.0.0', '--region', 'eu', '--region', 'eu'], '--region'],
      [['rollout', 'frobnicate', 'x'], 'frobnicate'],
      [['rollout', 'pause'], 'id']
    ] as Array<[string[], string]>) {
      const r = await run(...args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.match(/^mycel: /)
      expect(r.stderr, args.join(' ')).to.include(mentions)
    }
    expect(agent.seen).to.deep.equal([])
  })

  it('start sends the parsed request and prints only the id', async () => {
    agent.reply = { status: 201, body: { id: 'web-2.0.0-abcdef', rollout: {}, unchecked: [] } }
    const r = await run('rollout', 'start', 'web@2.0.0', '--region', 'us', '--region', 'eu', '--canary', '1', '--max-parallel', '25%',
      '--min-healthy-time', '2s', '--healthy-deadline', '1m', '--progress-deadline', '2m', '--max-unavailable', '2', '--no-auto-revert')
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.equal('web-2.0.0-abcdef\n')
    expect(agent.seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['POST /v1/rollouts'])
    expect(JSON.parse(agent.seen[0]?.body as string)).to.deep.equal({
      component: 'web', version: '2.0.0', regions: ['us', 'eu'], canary: 1, maxParallel: { percent: 25 },
      minHealthyTimeMs: 2_000, healthyDeadlineMs: 60_000, progressDeadlineMs: 120_000, maxUnavailable: 2, autoRevert: false
    })
  })

  it('a refusal of the agent exits 1 with its line', async () => {
    agent.reply = { status: 409, body: { error: 'rollout web-2.0.0-abcdef of web is running: a second rollout is refused, not queued (abort it or roll it back first)' } }
    const r = await run('rollout', 'start', 'web@3.0.0')
    expect(r.code).to.equal(1)
    expect(r.stdout).to.equal('')
    expect(r.stderr).to.equal('mycel: rollout web-2.0.0-abcdef of web is running: a second rollout is refused, not queued (abort it or roll it back first)\n')
    agent.reply = { status: 409, body: { error: 'rollout x is succeeded: pause applies to a running rollout' } }
    const p = await run('rollout', 'pause', 'x')
    expect(p.code).to.equal(1)
    expect(agent.seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['POST /v1/rollouts', 'POST /v1/rollouts/x/pause'])
  })

  it('status: one line per rollout, its regions\' waves and its nodes; --json as the agent answers', async () => {
    const view = {
      id: 'web-2.0.0-abcdef', component: 'web', from: '1.0.0', to: '2.0.0', state: 'running', wave: 1, lastStable: '1.0.0', createdAt: Date.now(),
      control: { state: 'running', at: 0, promoted: false },
      waves: [{ region: 'eu', index: 0, nodes: ['n1'], state: 'passed' }, { region: 'eu', index: 1, nodes: ['n2', 'n3'], state: 'active' }],
      regions: [{ region: 'eu', state: 'running', waves: [{ nodes: ['n1'], assigned: ['n1'], state: 'passed' }, { nodes: ['n2', 'n3'], assigned: ['n2'], state: 'active' }] }, { region: 'us', state: 'pending', waves: [] }],
      nodes: {
        n1: { region: 'eu', version: '2.0.0', state: 'running', health: 'passing', member: 'alive', stale: false, target: '2.0.0' },
        n2: { region: 'eu', version: '1.0.0', state: 'dead', health: 'unknown', member: 'dead', stale: true, target: '2.0.0' },
        n3: { region: 'eu', version: '1.0.0', state: 'running', health: 'passing', member: 'alive', stale: false, target: null }
      }
    }
    agent.reply = { status: 200, body: { rollouts: [view] } }
    const all = await run('rollout', 'status')
    expect(all.code, all.stderr).to.equal(0)
    const lines = all.stdout.split('\n')
    expect(lines[0]).to.match(/^web-2\.0\.0-abcdef {2}web 1\.0\.0 -> 2\.0\.0 {2}running, wave 2\/2 {2}\(last stable 1\.0\.0/)
    expect(lines[1]).to.equal('  eu  running  [1 node: passed] [2 nodes: active]')
    expect(lines[2]).to.equal('  us  pending')
    expect(lines[3]).to.match(/^ {4}n1 +eu +2\.0\.0 +running +passing +-> 2\.0\.0$/)
    expect(lines[4]).to.match(/^ {4}n2 +eu +1\.0\.0 +dead +unknown +-> 2\.0\.0$/)
    expect(lines[5]).to.match(/^ {4}n3 +eu +1\.0\.0 +running +passing$/)
    agent.reply = { status: 200, body: view }
    const one = await run('rollout', 'status', 'web-2.0.0-abcdef', '--json')
    expect(JSON.parse(one.stdout)).to.deep.equal(view)
    agent.reply = { status: 200, body: { rollouts: [] } }
    expect((await run('rollout', 'status')).stdout).to.equal('no rollouts\n')
    expect(agent.seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['GET /v1/rollouts', 'GET /v1/rollouts/web-2.0.0-abcdef', 'GET /v1/rollouts'])
  })
})
