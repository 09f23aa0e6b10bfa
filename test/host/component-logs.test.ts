import { expect } from 'chai'
import { appendFile, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ComponentLogs } from '../../host/component-logs.js'
import { RotatingLog } from '../../host/rotating-log.js'
import { FollowQueue, type LogLine } from '../../protocols/logs/index.js'

async function all (it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = []
  for await (const l of it) out.push(l)
  return out
}

async function until (cond: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('host: components\' logs as log sources', () => {
  let dir: string
  let logs: ComponentLogs | undefined
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-complogs-')) })
  afterEach(async () => { logs?.stop(); await rm(dir, { recursive: true, force: true }) })

  it('stamps lines written before the agent watched with the file\'s mtime, later ones with when they were seen, and keeps own times', async () => {
    const path = join(dir, 'web.log')
    await writeFile(path, 'old line\n')
    const old = new Date(Date.now() - 60_000)
    await utimes(path, old, old)
    logs = new ComponentLogs({ dir, node: 'n1', pollMs: 20 })
    await logs.start()
    const before = Date.now()
    await appendFile(path, 'new line\n{"time":"2026-01-01T00:00:00.000Z","level":50,"msg":"json line"}\n')
    const [src] = logs.sources()
    await until(async () => (await all(src.open(0))).length === 3)
    const lines = await all(src.open(0))
    expect(lines.map(l => l.rec.msg)).to.deep.equal(['old line', 'new line', 'json line'])
    expect(lines[0].t).to.equal(old.getTime())
    expect(lines[1].t).to.be.within(before, Date.now())
    expect(lines[2].rec).to.include({ time: '2026-01-01T00:00:00.000Z', level: 'error', component: 'web', node: 'n1' })
  })

  it('follows new complete lines, and reads across a copytruncate rotation in order', async () => {
    const path = join(dir, 'api.log')
    await writeFile(path, '')
    logs = new ComponentLogs({ dir, node: 'n1', pollMs: 20 })
    await logs.start()
    const [src] = logs.sources()
    const q = new FollowQueue(100)
    expect(await all(src.open(0, q))).to.have.length(0)
    await appendFile(path, 'one\ntwo\nhalf')
    const got: string[] = []
    const it = q[Symbol.asyncIterator]()
    while (got.length < 2) { const n = await it.next(); if ('line' in n.value) got.push(n.value.line.rec.msg) }
    expect(got).to.deep.equal(['one', 'two'])
    await new RotatingLog(path, 1, 3).rotate()
    await appendFile(path, 'three\n')
    await until(async () => (await all(src.open(0))).some(l => l.rec.msg === 'three'))
    expect((await all(src.open(0))).map(l => l.rec.msg)).to.deep.equal(['one', 'two', 'half', 'three'])
    q.close()
  })

  it('finds a new component\'s log and its new lines through the directory watch, with no periodic poll between', async () => {
    // Watched, nothing polls: the rescan comes every 30 polls (6 s), so only the watch brings the file in time.
    logs = new ComponentLogs({ dir: join(dir, 'not-yet'), node: 'n1', pollMs: 200 })
    await logs.start()
    expect(logs.watching).to.equal(true)
    await new Promise(resolve => setTimeout(resolve, 250))
    const path = join(dir, 'not-yet', 'job.log')
    await writeFile(path, 'first\n')
    await until(() => logs!.sources().length === 1, 2_000)
    const [src] = logs.sources()
    // The watch may find the file while it is still empty; 'first' is then a
    // later line, delivered to followers rather than read back. Follow once it
    // has been seen, so the next line a follower gets is the next one written.
    await until(async () => (await all(src.open(0))).some(l => l.rec.msg === 'first'), 2_000)
    const q = new FollowQueue(10)
    expect((await all(src.open(0, q))).map(l => l.rec.msg)).to.deep.equal(['first'])
    await appendFile(path, 'second\n')
    const it = q[Symbol.asyncIterator]()
    const n = await it.next()
    expect('line' in n.value && n.value.line.rec.msg).to.equal('second')
    q.close()
  })
})
