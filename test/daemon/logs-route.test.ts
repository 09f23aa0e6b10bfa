import { expect } from 'chai'
import { logsRequest, type LogsRouteInit } from '../../daemon/api/routes/logs.js'
import { logsTunables } from '../../protocols/logs/index.js'
import type { Member } from '../../protocols/membership/types.js'
import { humanLine, logsPath } from '../../daemon/cli/logs.js'

const NOW = Date.parse('2026-12-02T12:00:00.000Z')
const member = (peerId: string, region: string, state: string): Member => ({ peerId, region, state }) as unknown as Member
const init: LogsRouteInit = {
  logs: { config: logsTunables.defaults('test'), frames: () => { throw new Error('not used') } },
  self: 'selfAAA',
  region: 'eu',
  members: () => [member('selfAAA', 'eu', 'alive'), member('peerBBB1', 'eu', 'alive'), member('peerBBB2', 'eu', 'suspect'), member('peerCCC', 'eu', 'dead'), member('peerDDD', 'us', 'alive')]
}
const req = (q: string): ReturnType<typeof logsRequest> => logsRequest(new URLSearchParams(q), init, NOW)

describe('GET /v1/logs: request and targets', () => {
  it('defaults: the last hour, the default limit, every alive or suspect member of the own region', () => {
    const { q, nodes } = req('')
    expect(q).to.deep.equal({ since: NOW - 3_600_000, limit: 1_000 })
    expect(nodes).to.deep.equal(['selfAAA', 'peerBBB1', 'peerBBB2'])
  })

  it('takes every filter and another region', () => {
    const { q, nodes } = req('since=5m&until=2026-12-02T11:59:00Z&level=warn&component=web&grep=a%2Bb&trace=abc&limit=10&follow=1&region=us')
    expect(q).to.deep.equal({ since: NOW - 300_000, until: NOW - 60_000, level: 'warn', component: 'web', grep: 'a+b', trace: 'abc', limit: 10, follow: true })
    expect(nodes).to.deep.equal(['peerDDD'])
  })

  it('resolves a unique part of a peer id, and refuses an unknown or ambiguous one', () => {
    expect(req('node=CCC&node=selfAAA').nodes).to.deep.equal(['peerCCC', 'selfAAA'])
    expect(() => req('node=peerBBB')).to.throw(/names 2 members/)
    expect(() => req('node=zzz')).to.throw(/no member zzz/)
  })

  it('refuses bad parameters with 400 naming the parameter', () => {
    for (const [q, re] of [
      ['since=yesterday', /since must be/], ['since=5m&until=10m', /until must be after since/], ['level=loud', /level must be one of/],
      ['limit=0', /limit must be/], ['limit=10001', /limit must be/], ['limit=x', /limit must be/], ['grep=(a', /invalid --grep pattern/],
      [`grep=${'a'.repeat(513)}`, /longer than 512/], [`trace=${'a'.repeat(65)}`, /trace must be/], ['region=nowhere', /no live member/]
    ] as Array<[string, RegExp]>) {
      expect(() => req(q), q).to.throw(re).with.property('status').that.is.oneOf([400, 404])
    }
  })

  it('the CLI builds the same query, and prints a line for people', () => {
    expect(logsPath({ api: 'x', node: ['a', 'b'], since: '5m', grep: 'x y', follow: true })).to.equal('/v1/logs?node=a&node=b&since=5m&grep=x+y&follow=1')
    expect(humanLine({ time: '2026-12-02T12:00:00.000Z', node: '12D3KooWAbcdefghijk', component: 'agent', module: 'roles', level: 'warn', msg: 'lease lost', role: 'update', term: 3, why: 'a b' }))
      .to.equal('2026-12-02T12:00:00.000Z  12D3Ko…fghijk  agent/roles  WARN   lease lost  role=update  term=3  why="a b"')
  })
})
