/**
 * Trace context with 4 real agent processes (issue 17): a config write made
 * through `mycel config set --json` names its trace; the writer and every
 * receiver record their hops as span lines (their stderr pino lines, which
 * is what the log store keeps), all in that trace, each receiver's hops
 * under the writer's span; and the writer, started with --otlp-endpoint,
 * exports its span to an OTLP/HTTP collector.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { promisify } from 'node:util'
import { AgentProcess, CLI, startCluster, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

interface SpanLine { trace: string, span: string, parent?: string, name: string, hop: string, durationMs: number, ok: boolean, origin?: string }

/** The span lines of `trace` an agent has logged so far. */
function spansOf (a: AgentProcess, trace: string): SpanLine[] {
  const out: SpanLine[] = []
  for (const raw of a.stderr.split('\n')) {
    if (!raw.includes('"msg":"span"') || !raw.includes(trace)) continue
    try {
      const l = JSON.parse(raw) as SpanLine & { msg: string }
      if (l.msg === 'span' && l.trace === trace) out.push(l)
    } catch { /* a line cut by the stderr window */ }
  }
  return out
}

describe('trace context across 4 agent processes', function () {
  this.timeout(120_000)
  let agents: AgentProcess[] = []
  let collector: Server | undefined
  const exported: string[] = []

  before(async () => {
    // An OTLP/HTTP collector stand-in for the writer's export.
    collector = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => { exported.push(Buffer.concat(chunks).toString('utf8')); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}') })
    })
    await new Promise<void>(resolve => collector?.listen(0, '127.0.0.1', resolve))
    const port = (collector.address() as { port: number }).port
    agents = await startCluster(4, { extraArgs: ['--otlp-endpoint', `http://127.0.0.1:${port}/v1/traces`] })
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === agents.length)
    }, 60_000, 'all agents to see each other alive')
  })

  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    collector?.close()
  })

  it('a config write\'s trace id shows the writer and every receiver, each receiver\'s hops under the writer\'s span', async () => {
    const [writer, ...receivers] = agents as [AgentProcess, ...AgentProcess[]]
    const { stdout } = await run(process.execPath, [CLI, 'config', 'set', 'app/traced', '{"n":1}', '--json', '--api', writer.api])
    const reply = JSON.parse(stdout) as { seq: number, trace: string }
    assert.match(reply.trace, /^[0-9a-f]{32}$/)
    const [written] = await waitFor(() => { const s = spansOf(writer, reply.trace); return s.length > 0 ? s : undefined }, 10_000, 'the writer\'s span')
    assert.ok(written !== undefined)
    assert.deepEqual([written.name, written.hop, written.ok], ['config.write', 'applied', true])
    for (const r of receivers) {
      const spans = await waitFor(() => { const s = spansOf(r, reply.trace); return s.some(x => x.hop === 'applied') ? s : undefined }, 15_000, `the spans of receiver ${r.peerId}`)
      const received = spans.find(s => s.hop === 'received')
      const applied = spans.find(s => s.hop === 'applied')
      assert.equal(received?.parent, written.span, 'received is a child of the writer\'s span')
      assert.equal(applied?.parent, received?.span, 'applied is a child of received')
      assert.ok(received?.origin === 'gossip' || received?.origin === 'sync')
    }
    // The writer exported its span to the collector (test profile: batches every 200 ms).
    await waitFor(() => exported.some(body => body.includes(written.span) && body.includes(reply.trace)), 10_000, 'the OTLP export of the writer\'s span')
  })
})
