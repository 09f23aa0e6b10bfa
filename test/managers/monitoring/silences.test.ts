import { strict as assert } from 'node:assert'
import { expire, InvalidSilenceError, isActive, parseSilence, SilenceExpiredError, silencedBy, silencesToDrop, silenceStatus, type Silence } from '../../../managers/monitoring/silences.js'
import { parseMatchers } from '../../../managers/monitoring/matchers.js'

function silence (id: string, matchers: string, startsAt: number, endsAt: number): Silence {
  return parseSilence({ id, matchers: parseMatchers(matchers), startsAt, endsAt, createdBy: 'ops', comment: 'maintenance' })
}

describe('managers/monitoring/silences', () => {
  it('is pending before startsAt, active from startsAt, expired from endsAt', () => {
    const s = silence('s1', 'alertname=DiskFull', 100, 200)
    assert.deepEqual([99, 100, 199, 200, 500].map(t => silenceStatus(s, t)), ['pending', 'active', 'active', 'expired', 'expired'])
    assert.equal(isActive(s, 150), true)
    assert.equal(isActive(s, 200), false)
  })

  it('silencedBy lists the active silences whose matchers all match, sorted', () => {
    const silences = [
      silence('b', 'alertname=DiskFull', 0, 1000),
      silence('a', '{alertname=~"Disk.*", peer=p1}', 0, 1000),
      silence('c', 'alertname=DiskFull', 500, 1000),
      silence('d', 'alertname=DiskFull', 0, 50),
      silence('e', 'alertname=MemberDown', 0, 1000)
    ]
    const table: Array<[Record<string, string>, number, string[]]> = [
      [{ alertname: 'DiskFull', peer: 'p1' }, 100, ['a', 'b']],
      [{ alertname: 'DiskFull', peer: 'p2' }, 100, ['b']],
      [{ alertname: 'DiskFull', peer: 'p2' }, 600, ['b', 'c']],
      [{ alertname: 'DiskFull', peer: 'p2' }, 10, ['b', 'd']],
      [{ alertname: 'Load', peer: 'p1' }, 100, []],
      [{ alertname: 'DiskFull' }, 1000, []]
    ]
    for (const [labels, now, want] of table) assert.deepEqual(silencedBy(silences, labels, now), want, JSON.stringify([labels, now]))
  })

  it('expire sets endsAt to now (startsAt too when it had not started); an expired one is refused', () => {
    const s = silence('s', 'a=1', 100, 200)
    assert.deepEqual(expire(s, 150), { ...s, endsAt: 150 })
    assert.equal(isActive(expire(s, 150), 150), false)
    assert.deepEqual(expire(s, 50), { ...s, startsAt: 50, endsAt: 50 })
    assert.throws(() => expire(s, 200), SilenceExpiredError)
  })

  it('refuses invalid silences with a one-line reason', () => {
    const base = { id: 's', matchers: parseMatchers('a=1'), startsAt: 0, endsAt: 10, createdBy: 'ops', comment: 'c' }
    const bad: Array<[unknown, RegExp]> = [
      [{ ...base, matchers: [] }, /at least one matcher/],
      [{ ...base, matchers: parseMatchers('a=~".*"') }, /must not match the empty string/],
      [{ ...base, matchers: parseMatchers('{a="", b!~"x"}') }, /must not match the empty string/],
      [{ ...base, endsAt: -1 }, /endsAt/],
      [{ ...base, startsAt: 20 }, /end time must not be before start time/],
      [{ ...base, comment: '' }, /comment/],
      [{ ...base, createdBy: '' }, /createdBy/],
      [{ ...base, id: 'a/b' }, /id/],
      [{ ...base, extra: 1 }, /extra|unrecognized/i],
      [{ ...base, matchers: [{ name: 'a', type: '=~', value: '(' }] }, /invalid regex/]
    ]
    for (const [input, re] of bad) {
      assert.throws(() => parseSilence(input), (err: unknown) => err instanceof InvalidSilenceError && re.test(err.message) && !err.message.includes('\n'), JSON.stringify(input))
    }
  })

  it('silencesToDrop drops only expired silences, the earliest ended first', () => {
    const silences = [silence('x', 'a=1', 0, 10), silence('y', 'a=1', 0, 5), silence('z', 'a=1', 0, 100), silence('w', 'a=1', 0, 7)]
    assert.deepEqual(silencesToDrop(silences, 50, 4), [])
    assert.deepEqual(silencesToDrop(silences, 50, 2), ['y', 'w'])
    assert.deepEqual(silencesToDrop(silences, 50, 0), ['y', 'w', 'x'], 'the active one stays whatever the bound')
  })
})
