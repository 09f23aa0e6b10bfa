import { expect } from 'chai'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { pino } from 'pino'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'
import { logs, type LogsService, LOGS_PROTOCOL, logsTunables, fanout, type FanoutRecord, type LogFrame } from '../../../protocols/logs/index.js'
import { queryPeer } from '../../../protocols/logs/client.js'
import { decodeLogFrame, encodeLogRequest } from '../../../protocols/logs/messages.js'
import { encodeCbor } from '../../../wire/codec.js'

const logger = pino({ level: 'silent' })

interface Node { id: string, host: MemoryHost, svc: LogsService, dir: string }

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

function pinoLine (msg: string, t: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ level: 30, time: new Date(t).toISOString(), pid: 1, ...extra, msg })
}

describe('logs: /mycel/logs/1.0.0', () => {
  let net: MemoryNetwork
  let nodes: Node[]
  let members: Set<string>

  async function node (): Promise<Node> {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const host = net.host(id)
    const dir = await mkdtemp(join(tmpdir(), 'mycel-logs-proto-'))
    const svc = logs({ config: logsTunables.create('test', { maxLimit: 100, defaultLimit: 50, historyTimeoutMs: 2_000 }) })({ peerId: id, dataDir: dir, logger, host, isMember: (p) => members.has(p) })
    await svc.start()
    members.add(id)
    return { id, host, svc, dir }
  }

  /** Send raw request bytes, read every frame back. */
  async function raw (from: Node, to: Node, bytes: Uint8Array): Promise<LogFrame[]> {
    const stream = await from.host.dialProtocol(peerIdFromString(to.id), LOGS_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(bytes)
    const out: LogFrame[] = []
    while (true) {
      try { out.push(decodeLogFrame((await lp.read()).subarray())) } catch { break }
    }
    return out
  }

  beforeEach(async () => {
    net = new MemoryNetwork()
    members = new Set()
    nodes = [await node(), await node(), await node()]
  })

  afterEach(async () => {
    for (const n of nodes) { await n.svc.stop(); n.host.stop(); await rm(n.dir, { recursive: true, force: true }) }
  })

  it('answers the newest `limit` matching lines oldest first, then end with more', async () => {
    const [a, b] = nodes
    const t0 = Date.now() - 10_000
    for (let i = 0; i < 20; i++) b.svc.store.append(pinoLine(`m${i}`, t0 + i, { level: i % 2 === 0 ? 30 : 50 }))
    const frames = await collect(queryPeer(a.host, peerIdFromString(b.id), { since: t0, level: 'error', limit: 3 }, AbortSignal.timeout(5_000)))
    const lines = frames.filter(f => f.op === 'line').map(f => JSON.parse((f as { line: string }).line) as { msg: string, node: string, level: string })
    expect(lines.map(l => l.msg)).to.deep.equal(['m15', 'm17', 'm19'])
    expect(lines.every(l => l.node === b.id && l.level === 'error')).to.equal(true)
    expect(frames.at(-1)).to.deep.include({ op: 'end', more: true })
  })

  it('refuses malformed, oversized and out-of-bounds requests with an error frame, and keeps serving', async () => {
    const [a, b] = nodes
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([0xff, 0x00, 0x13]), /bad request \(malformed\)/],
      [encodeCbor({ v: 1, since: 'yesterday', limit: 5 }), /bad request \(malformed\)/],
      [encodeCbor({ v: 2, since: 0, limit: 5 }), /bad request/],
      [encodeLogRequest({ since: 0, limit: 101 }), /above this node's maximum 100/],
      [encodeLogRequest({ since: 0, limit: 5, grep: '(?=x)' }), /invalid --grep pattern/],
      [encodeCbor({ v: 1, since: 0, limit: 5, grep: 'x'.repeat(5_000) }), /bad request \(oversized\)/]
    ]
    for (const [bytes, expected] of cases) {
      const frames = await raw(a, b, bytes)
      expect(frames, String(expected)).to.have.length(1)
      expect(frames[0].op).to.equal('error')
      expect((frames[0] as { error: string }).error).to.match(expected)
    }
    const ok = await collect(queryPeer(a.host, peerIdFromString(b.id), { since: 0, limit: 5 }, AbortSignal.timeout(5_000)))
    expect(ok.at(-1)?.op).to.equal('end')
    const refused = (await b.svc.metrics.queries.get()).values.find(v => v.labels.result === 'refused')?.value
    expect(refused).to.equal(cases.length)
  })

  it('refuses a peer that is not a member', async () => {
    const [a, b] = nodes
    members.delete(a.id)
    let err: Error | undefined
    try { await collect(queryPeer(a.host, peerIdFromString(b.id), { since: 0, limit: 5 }, AbortSignal.timeout(5_000))) } catch (e) { err = e as Error }
    expect(err?.name).to.equal('LogQueryRefusedError')
    expect(err?.message).to.match(/only members/)
  })

  it('follow sends a line appended after the history, then stops when the reader leaves', async () => {
    const [a, b] = nodes
    const ctl = new AbortController()
    const it = queryPeer(a.host, peerIdFromString(b.id), { since: Date.now() - 1000, limit: 10, follow: true, grep: 'later' }, ctl.signal)[Symbol.asyncIterator]()
    expect((await it.next()).value).to.deep.include({ op: 'end' })
    b.svc.store.append(pinoLine('not this one', Date.now()))
    b.svc.store.append(pinoLine('later line', Date.now()))
    const next = (await it.next()).value as { op: string, line: string }
    expect(next.op).to.equal('line')
    expect(JSON.parse(next.line).msg).to.equal('later line')
    await it.return?.(undefined)
    ctl.abort()
    const deadline = Date.now() + 2_000
    while ((await b.svc.metrics.following.get()).values[0].value !== 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    expect((await b.svc.metrics.following.get()).values[0].value).to.equal(0)
  })

  it('fan-out merges the nodes by time and reports a node that does not answer', async () => {
    const [a, b, c] = nodes
    const t0 = Date.now() - 5_000
    for (let i = 0; i < 30; i++) [a, b, c][i % 3].svc.store.append(pinoLine(`l${i}`, t0 + i))
    c.host.stop()
    const recs: FanoutRecord[] = await collect(fanout([a.id, b.id, c.id], { since: t0, limit: 100 }, (n, q, s) => a.svc.frames(n, q, s), { timeoutMs: 2_000, signal: AbortSignal.timeout(5_000) }))
    const lines = recs.filter(r => r.kind === 'line')
    expect(lines.map(r => JSON.parse((r as { line: string }).line).msg)).to.deep.equal(Array.from({ length: 30 }, (_, i) => `l${i}`).filter((_, i) => i % 3 !== 2))
    const end = recs.at(-1) as Extract<FanoutRecord, { kind: 'end' }>
    expect(end.kind).to.equal('end')
    expect(end.nodes).to.have.members([a.id, b.id])
    expect(end.missing.map(m => m.node)).to.deep.equal([c.id])
    nodes = nodes.filter(n => n !== c)
    await c.svc.stop()
    await rm(c.dir, { recursive: true, force: true })
  })
})
