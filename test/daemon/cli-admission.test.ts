/**
 * `mycel admission ...` in-process (runCli) against a stand-in agent: bad
 * arguments exit 2 with one line before the agent is contacted; allow,
 * revoke, mode and token create send what they parsed; the agent's refusal
 * exits 1 with its line.
 */
import { expect } from 'chai'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

const PEER = '12D3KooWEtpdRSZJBfFLyng4qF53rwKRpaPJ9k83nNJEN6x9sTvm'

describe('CLI: admission', () => {
  let agent: FakeAgentApi
  before(async () => { agent = await fakeAgentApi() })
  after(async () => { await agent.close() })
  beforeEach(() => { agent.seen.length = 0 })
  const run = async (...args: string[]): ReturnType<FakeAgentApi['run']> => await agent.run(...args)

  it('bad arguments exit 2 with one line naming the problem, and nothing reaches the agent', async () => {
    await agent.expectUsageErrors([
      [['admission', 'allow', 'nope'], 'peer'],
      [['admission', 'allow', PEER, '--region', 'EU WEST'], '--region'],
      [['admission', 'revoke', '12D3KooWbroken'], 'peer'],
      [['admission', 'mode', 'closed'], 'mode'],
      [['admission', 'token', 'create', '--ttl', '99y'], '--ttl'],
      [['admission', 'token', 'create', '--ttl', '31d'], '--ttl'],
      [['admission', 'token', 'create', '--uses', '0'], '--uses']
    ])
  })

  it('sends what it parsed', async () => {
    agent.reply = { status: 200, body: { key: 'k', height: 3, latencyMs: 12 } }
    expect((await run('admission', 'allow', PEER, '--region', 'eu', '--region', 'us')).code).to.equal(0)
    expect((await run('admission', 'revoke', PEER, '--reason', 'stolen')).code).to.equal(0)
    expect((await run('admission', 'mode', 'allowlist', '--force')).code).to.equal(0)
    agent.reply = { status: 200, body: { token: 'mycel-join1.x', id: 'ab', expiresAt: '2026-12-09T00:00:00.000Z', uses: 2 } }
    const t = await run('admission', 'token', 'create', '--ttl', '7d', '--uses', '2')
    expect(t.code, t.stderr).to.equal(0)
    expect(t.stdout).to.equal('mycel-join1.x\n')
    expect(agent.seen.map(s => [`${s.method} ${s.url}`, JSON.parse(s.body as string)])).to.deep.equal([
      ['POST /v1/admission/allow', { peer: PEER, regions: ['eu', 'us'] }],
      ['POST /v1/admission/revoke', { peer: PEER, reason: 'stolen' }],
      ['POST /v1/admission/mode', { mode: 'allowlist', force: true }],
      ['POST /v1/admission/tokens', { ttlMs: 7 * 86_400_000, uses: 2 }]
    ])
  })

  it('a refusal of the agent exits 1 with its line', async () => {
    agent.reply = { status: 409, body: { error: 'an allowlist would cut off 2 live members not on it' } }
    const r = await run('admission', 'mode', 'allowlist')
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include('would cut off 2 live members')
  })
})
