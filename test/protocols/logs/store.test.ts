import { expect } from 'chai'
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogStore } from '../../../protocols/logs/store.js'
import { logsMetrics } from '../../../protocols/logs/metrics.js'
import { logsTunables } from '../../../protocols/logs/constants.js'
import { FollowQueue } from '../../../protocols/logs/follow-queue.js'
import type { LogLine } from '../../../protocols/logs/line.js'

const NODE = '12D3KooWTestNode'

function pinoLine (i: number, t = Date.now(), extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ level: 30, time: new Date(t).toISOString(), pid: 1, component: 'roles', i, ...extra, msg: `line ${i}` }) + '\n'
}

async function all (it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = []
  for await (const l of it) out.push(l)
  return out
}

describe('logs: the node\'s log store', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-logstore-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const make = (over: Partial<ReturnType<typeof logsTunables.defaults>> = {}): LogStore =>
    new LogStore({ dir, node: NODE, component: 'agent', config: { ...logsTunables.defaults('test'), ...over }, metrics: logsMetrics() })

  it('serves each line with node, component agent, level name, ISO time, msg and its other fields (pino component kept as module)', async () => {
    const store = make()
    await store.start()
    store.append(pinoLine(1, Date.parse('2026-01-01T00:00:00.000Z'), { trace: 'a'.repeat(32), span: 'b'.repeat(16), parent: 'c'.repeat(16), name: 'config.write', hop: 'applied', durationMs: 3.5 }))
    const [l] = await all(store.open(0))
    expect(l.rec).to.deep.equal({
      time: '2026-01-01T00:00:00.000Z', node: NODE, component: 'agent', level: 'info', msg: 'line 1',
      module: 'roles', i: 1, trace: 'a'.repeat(32), span: 'b'.repeat(16), parent: 'c'.repeat(16), name: 'config.write', hop: 'applied', durationMs: 3.5
    })
    await store.stop()
  })

  it('stays within files × maxFileBytes on disk, rotating, and keeps the newest lines', async () => {
    const store = make({ maxFileBytes: 4096, files: 3, maxPendingBytes: 4096 })
    await store.start()
    for (let i = 0; i < 2000; i++) {
      store.append(pinoLine(i))
      if (i % 20 === 19) await store.flush()
    }
    await store.stop()
    const files = await readdir(dir)
    expect(files.sort()).to.deep.equal(['agent.log', 'agent.log.1', 'agent.log.2'])
    let total = 0
    for (const f of files) total += (await stat(join(dir, f))).size
    expect(total).to.be.at.most(3 * 4096)
    const back = await all(make({ maxFileBytes: 4096, files: 3 }).open(0))
    expect(back.at(-1)?.rec.i).to.equal(1999)
    // Contiguous: the oldest kept line up to the newest, none missing in between.
    const is = back.map(l => l.rec.i as number)
    expect(is).to.deep.equal(Array.from({ length: is.length }, (_, k) => is[0] + k))
  })

  it('reads back after a restart the same lines it served before', async () => {
    const store = make()
    await store.start()
    for (let i = 0; i < 50; i++) store.append(pinoLine(i))
    const before = (await all(store.open(0))).map(l => l.rec)
    await store.stop()
    const again = make()
    await again.start()
    expect((await all(again.open(0))).map(l => l.rec)).to.deep.equal(before)
    await again.stop()
  })

  it('after a crash mid-write (a torn last line) the next run\'s first line is still served', async () => {
    const store = make()
    await store.start()
    store.append(pinoLine(1))
    await store.stop()
    await appendFile(join(dir, 'agent.log'), pinoLine(2).slice(0, 20))
    const again = make()
    await again.start()
    again.append(pinoLine(3))
    await again.stop()
    const third = make()
    await third.start()
    const lines = (await all(third.open(0))).map(l => l.rec.msg)
    await third.stop()
    expect(lines).to.deep.equal(['line 1', 'line 3'])
  })

  it('drops lines beyond its pending bound instead of growing, and counts them', async () => {
    const metrics = logsMetrics()
    const store = new LogStore({ dir, node: NODE, component: 'agent', config: { ...logsTunables.defaults('test'), maxPendingBytes: 16 * 1024 + 100 }, metrics })
    // Not started: nothing is written, so the pending bound is all there is.
    for (let i = 0; i < 1000; i++) store.append(pinoLine(i))
    const dropped = (await metrics.dropped.get()).values.find(v => v.labels.reason === 'pending_full')?.value ?? 0
    expect(dropped).to.be.greaterThan(800)
    expect((await all(store.open(0))).length).to.equal(1000 - dropped)
  })

  it('splits history and follow at one instant: no line missed or doubled while writes are in flight', async () => {
    const store = make()
    await store.start()
    for (let i = 0; i < 30; i++) store.append(pinoLine(i))
    const flushing = store.flush()
    for (let i = 30; i < 40; i++) store.append(pinoLine(i))
    const q = new FollowQueue(1000)
    const history = all(store.open(0, q))
    for (let i = 40; i < 60; i++) store.append(pinoLine(i))
    await flushing
    q.close()
    const followed: number[] = []
    for await (const item of q) if ('line' in item) followed.push(item.line.rec.i as number)
    const seen = [...(await history).map(l => l.rec.i as number), ...followed]
    expect(seen).to.deep.equal(Array.from({ length: 60 }, (_, i) => i))
    await store.stop()
  })

  it('skips rotated files last written before since', async () => {
    const store = make({ maxFileBytes: 2048, files: 3, maxPendingBytes: 2048 })
    await store.start()
    for (let i = 0; i < 20; i++) { store.append(pinoLine(i, Date.now() - 3_600_000)); await store.flush() }
    await store.stop()
    const lines = await all(make({ maxFileBytes: 2048, files: 3 }).open(Date.now() + 60_000))
    expect(lines).to.have.length(0)
  })
})
