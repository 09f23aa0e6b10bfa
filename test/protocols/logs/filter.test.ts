import { expect } from 'chai'
import { compilePattern, contentFilter, queryFilter } from '../../../protocols/logs/filter.js'
import { agentLine, componentLine, type LogLine } from '../../../protocols/logs/line.js'
import { parseTimeArg } from '../../../protocols/logs/time-arg.js'

const NODE = 'n1'
const T0 = Date.parse('2026-01-01T00:00:00.000Z')

function line (level: number, msg: string, extra: Record<string, unknown> = {}, t = T0): LogLine {
  return agentLine(JSON.stringify({ level, time: new Date(t).toISOString(), pid: 1, ...extra, msg }), NODE, 'agent')!
}

describe('logs: query filters', () => {
  it('level keeps that level and above', () => {
    const keep = contentFilter({ level: 'warn' })
    expect([20, 30, 40, 50, 60].map(l => keep(line(l, 'x')))).to.deep.equal([false, false, true, true, true])
  })

  it('component matches the line\'s component or an agent line\'s own component field', () => {
    const keep = contentFilter({ component: 'roles' })
    expect(keep(line(30, 'x', { component: 'roles' }))).to.equal(true)
    expect(keep(line(30, 'x', { component: 'membership' }))).to.equal(false)
    expect(keep(componentLine('hello', NODE, 'roles', T0))).to.equal(true)
    expect(contentFilter({ component: 'agent' })(line(30, 'x', { component: 'membership' }))).to.equal(true)
  })

  it('trace matches the trace field exactly', () => {
    const id = 'ab'.repeat(16)
    const keep = contentFilter({ trace: id })
    expect(keep(line(30, 'span', { trace: id }))).to.equal(true)
    expect(keep(line(30, 'span', { trace: id.slice(1) + 'c' }))).to.equal(false)
    expect(keep(line(30, `mentions ${id}`))).to.equal(false)
  })

  it('grep matches the stored line with RE2', () => {
    const keep = contentFilter({ grep: 'peer [0-9]+ (joined|left)' })
    expect(keep(line(30, 'peer 42 joined'))).to.equal(true)
    expect(keep(line(30, 'peer x joined'))).to.equal(false)
  })

  it('a catastrophic pattern on a long hostile line returns fast (no backtracking)', () => {
    const keep = contentFilter({ grep: '(a+)+$' })
    const hostile = componentLine('a'.repeat(15_000) + '!', NODE, 'web', T0)
    const start = performance.now()
    expect(keep(hostile)).to.equal(false)
    expect(performance.now() - start).to.be.below(1_000)
  })

  it('refuses patterns RE2 cannot run, in one line naming the pattern', () => {
    for (const bad of ['(a', '(?=a)', '(a)\\1', '[z-a]']) {
      expect(() => compilePattern(bad)).to.throw(/invalid --grep pattern/).with.property('name', 'InvalidLogQueryError')
    }
  })

  it('the time range is [since, until)', () => {
    const keep = queryFilter({ since: T0, until: T0 + 10, limit: 10 })
    expect([T0 - 1, T0, T0 + 9, T0 + 10].map(t => keep(line(30, 'x', {}, t)))).to.deep.equal([false, true, true, false])
  })

  it('component lines keep their own time (JSON, RFC 3339 prefix) or take the stamp', () => {
    expect(componentLine('{"time":1767225600000,"level":"warn","message":"hi","k":1}', NODE, 'web', 5).rec)
      .to.deep.equal({ time: '2026-01-01T00:00:00.000Z', node: NODE, component: 'web', level: 'warn', msg: 'hi', k: 1 })
    expect(componentLine('2026-01-01T00:00:01Z started', NODE, 'web', 5).t).to.equal(T0 + 1000)
    expect(componentLine('plain text', NODE, 'web', 5).t).to.equal(5)
  })

  it('--since and --until take a duration back from now or an RFC 3339 time, nothing else', () => {
    expect(parseTimeArg('5m', T0)).to.equal(T0 - 300_000)
    expect(parseTimeArg('2026-01-01T00:00:00Z', 0)).to.equal(T0)
    for (const bad of ['5', 'May', '5 m', '-5m', '']) expect(parseTimeArg(bad, T0)).to.equal(undefined)
  })
})
