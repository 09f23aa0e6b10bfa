/**
 * `mycel alerts` and `mycel alert ...` in-process (runCli) against a
 * stand-in agent: bad arguments and bad files exit 2 with one line before
 * the agent is contacted; good ones send what they parsed; the agent's
 * refusal of a malformed request exits 2, a missing silence 1.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

const RULES = `groups:
  - name: members
    rules:
      - alert: MemberDown
        expr: mycel_member_up == 0
        for: 30s
`

describe('CLI: alerts', () => {
  let agent: FakeAgentApi
  let dir: string
  before(async () => {
    agent = await fakeAgentApi()
    dir = await mkdtemp(join(tmpdir(), 'mycel-cli-alerts-'))
    await writeFile(join(dir, 'rules.yml'), RULES)
    await writeFile(join(dir, 'bad-rules.yml'), RULES.replace('mycel_member_up == 0', 'rate(mycel_member_up) > 0'))
    await writeFile(join(dir, 'bad-yaml.yml'), 'groups:\n  - name: a\n   rules: [\n')
    await writeFile(join(dir, 'bad-inhibit.yml'), 'inhibit_rules:\n  - source_matchers: ["a=~("]\n    target_matchers: [b=c]\n')
  })
  after(async () => {
    await agent.close()
    await rm(dir, { recursive: true, force: true })
  })
  beforeEach(() => { agent.seen.length = 0; agent.reply = { status: 200, body: {} } })
  const run = async (...args: string[]): ReturnType<FakeAgentApi['run']> => await agent.run(...args)

  it('bad arguments and files exit 2 with one line naming the problem, and nothing reaches the agent', async () => {
    for (const [args, mentions] of [
      [['alert', 'silence', '--comment', 'x'], '--matcher'],
      [['alert', 'silence', '--matcher', 'nope', '--comment', 'x'], 'nope'],
      [['alert', 'silence', '--matcher', 'a=~"("', '--comment', 'x'], 'matcher'],
      [['alert', 'silence', '--matcher', 'a=b'], '--comment'],
      [['alert', 'silence', '--matcher', 'a=b', '--comment', '  '], '--comment'],
      [['alert', 'silence', '--matcher', 'a=b', '--comment', 'x', '--duration', '0s'], '--duration'],
      [['alert', 'silence', '--matcher', 'a=b', '--comment', 'x', '--duration', 'soon'], '--duration'],
      [['alert', 'rules', 'set', join(dir, 'missing.yml')], 'cannot read'],
      [['alert', 'rules', 'set', join(dir, 'bad-rules.yml')], 'line 5'],
      [['alert', 'rules', 'set', join(dir, 'bad-yaml.yml')], 'line'],
      [['alert', 'inhibit', 'set', join(dir, 'bad-inhibit.yml')], 'matcher'],
      [['alert', 'rules', 'set'], 'file'],
      [['alerts', '--region', 'EU WEST'], 'region']
    ] as Array<[string[], string]>) {
      const r = await run(...args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.ok(r.stderr.includes(mentions), `${args.join(' ')}: ${r.stderr}`)
    }
    assert.deepEqual(agent.seen, [])
  })

  it('sends what it parsed', async () => {
    agent.reply = { status: 200, body: { groups: [{ name: 'members', rules: ['MemberDown'] }] } }
    const set = await run('alert', 'rules', 'set', join(dir, 'rules.yml'))
    assert.equal(set.code, 0, set.stderr)
    assert.equal(set.stdout, '1 alert rules in 1 groups set\n')
    agent.reply = { status: 200, body: { silenceID: 'abc' } }
    const before = Date.now()
    const s = await run('alert', 'silence', '--matcher', 'alertname=MemberDown', '--matcher', 'peer=~"12D3.*"', '--comment', 'maintenance', '--duration', '2h', '--author', 'op')
    assert.equal(s.code, 0, s.stderr)
    assert.equal(s.stdout, 'abc\n')
    agent.reply = { status: 200, body: [] }
    assert.equal((await run('alerts', '--region', 'eu', '--resolved')).code, 0)
    agent.reply = { status: 200, body: {} }
    assert.equal((await run('alert', 'expire', 'a/b')).code, 0)
    const [put, post, get, del] = agent.seen
    assert.deepEqual([put.method, put.url, JSON.parse(put.body)], ['PUT', '/v1/alerts/rules', { text: RULES }])
    const body = JSON.parse(post.body)
    assert.deepEqual([post.method, post.url, body.matchers, body.createdBy, body.comment], ['POST', '/v1/silences', ['alertname=MemberDown', 'peer=~"12D3.*"'], 'op', 'maintenance'])
    assert.ok(Date.parse(body.endsAt) - Date.parse(body.startsAt) === 7_200_000 && Date.parse(body.startsAt) >= before)
    assert.deepEqual([get.method, get.url], ['GET', '/v1/alerts?region=eu&resolved=true'])
    assert.deepEqual([del.method, del.url], ['DELETE', '/v1/silence/a%2Fb'])
  })

  it('the agent\'s refusal of a malformed request exits 2 with its line; a missing silence exits 1', async () => {
    agent.reply = { status: 422, body: { error: 'invalid silence: matchers: at least one matcher must not match the empty string' } }
    const r = await run('alert', 'silence', '--matcher', 'a=""', '--comment', 'x')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /must not match the empty string/)
    agent.reply = { status: 404, body: { error: 'no silence "x"' } }
    const e = await run('alert', 'expire', 'x')
    assert.equal(e.code, 1)
    assert.match(e.stderr, /no silence/)
  })
})
