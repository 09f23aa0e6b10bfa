/**
 * `mycel emergency ...` in-process (runCli) against a stand-in agent: bad
 * arguments exit 2 with one line before the agent is contacted; freeze and
 * thaw send what they parsed; the agent's refusal (409) exits 1 with its line;
 * status prints the control line and the records.
 */
import { expect } from 'chai'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

describe('CLI: emergency', () => {
  let agent: FakeAgentApi
  before(async () => { agent = await fakeAgentApi() })
  after(async () => { await agent.close() })
  beforeEach(() => { agent.seen.length = 0 })
  const run = async (...args: string[]): ReturnType<FakeAgentApi['run']> => await agent.run(...args)

  it('bad arguments exit 2 with one line, and nothing reaches the agent', async () => {
    await agent.expectUsageErrors([
      [['emergency', 'freeze'], '--reason'],
      [['emergency', 'freeze', '--reason', ' '], 'reason'],
      [['emergency', 'freeze', '--reason', 'x'.repeat(257)], '256'],
      [['emergency', 'freeze', '--reason', 'x', '--region', 'EU WEST'], '--region'],
      [['emergency', 'thaw', '--region', 'a/b'], '--region']
    ])
  })

  it('freeze and thaw send what they parsed; a refusal exits 1 with the agent\'s line', async () => {
    agent.reply = { status: 200, body: { scope: 'eu', source: 'critical', height: 4, latencyMs: 12, trace: 'ab' } }
    const f = await run('emergency', 'freeze', '--region', 'eu', '--reason', 'bad release')
    expect(f.code, f.stderr).to.equal(0)
    expect(f.stdout).to.match(/^frozen: region eu \(committed at height 4 in 12 ms\)/)
    expect((await run('emergency', 'thaw')).code).to.equal(0)
    expect(agent.seen.map(s => [`${s.method} ${s.url}`, JSON.parse(s.body as string)])).to.deep.equal([
      ['POST /v1/emergency/freeze', { reason: 'bad release', region: 'eu' }],
      ['POST /v1/emergency/thaw', {}]
    ])
    agent.reply = { status: 409, body: { error: 'no network-wide freeze (*) to thaw; nothing is frozen' } }
    const r = await run('emergency', 'thaw')
    expect(r.code).to.equal(1)
    expect(r.stderr).to.equal('mycel: no network-wide freeze (*) to thaw; nothing is frozen\n')
  })

  it('status prints who has control and the records', async () => {
    agent.reply = {
      status: 200,
      body: {
        source: 'critical',
        control: { state: 'frozen', since: Date.now() - 5000, reason: 'x', frozen: { scope: '*', reason: 'bad release', by: '12D3KooWEtpdRSZJBfFLyng4qF53rwKRpaPJ9k83nNJEN6x9sTvm', at: 1 }, core: { ready: true } },
        records: [{ scope: '*', frozen: true, reason: 'bad release', by: '12D3KooWEtpdRSZJBfFLyng4qF53rwKRpaPJ9k83nNJEN6x9sTvm', at: 1, height: 3 }]
      }
    }
    const r = await run('emergency', 'status')
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout).to.match(/^control: frozen since 5s ago \(every region, by 12D3Ko…x9sTvm\): bad release\n/)
    expect(r.stdout).to.match(/\*\s+frozen\s+12D3Ko…x9sTvm\s+1970-01-01T00:00:00.001Z\s+3\s+bad release/)
  })
})
