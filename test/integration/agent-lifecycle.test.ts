/**
 * The agent's one lifecycle, in process over loopback sockets: a part that
 * fails to start half-way stops every part started before it, newest first,
 * releases the data dir lock and rejects with a StartError naming it; a
 * graceful stop announces the leave while the network is still up, so a
 * peer sees this node `left`, not suspect. The order is read from the
 * agent's debug log (`<part> started` / `<part> stopped`).
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { Agent } from '../../daemon/agent.js'
import { defaults, resolveConfig, type AgentConfig } from '../../daemon/config.js'
import { DirLock } from '../../lib/dir-lock.js'
import { StartError } from '../../lib/lifecycle.js'
import { waitFor } from '../../harness/agent-process.js'

interface LogLine { msg: string, part?: string }

/** A debug logger whose lines land in `lines`. */
function recordingLogger (lines: LogLine[]): Logger {
  return pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
}

/** Parts in the order the log says they `event`. */
function partsThat (lines: LogLine[], event: 'started' | 'stopped'): string[] {
  return lines.filter(l => l.part !== undefined && l.msg === `${l.part} ${event}`).map(l => l.part as string)
}

describe('agent lifecycle (in process)', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  const agents: Agent[] = []
  const config = async (over: Partial<AgentConfig> = {}): Promise<AgentConfig> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mycel-lifecycle-'))
    dirs.push(dataDir)
    return resolveConfig(defaults(), { dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', profile: 'test', bootstrap: [], ...over })
  }
  after(async () => {
    for (const a of agents) await a.stop({ leave: false })
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('a part that fails half-way: the started parts stop newest first, the lock is released, start rejects naming the part', async () => {
    const cfg = await config()
    const lines: LogLine[] = []
    const agent = new Agent(cfg, recordingLogger(lines))
    const calls: string[] = []
    agent.add('ledger', { start: () => { calls.push('ledger.start') }, stop: () => { calls.push('ledger.stop') } })
    agent.add('broken', { start: () => { throw new Error('cannot open the widget') }, stop: () => { calls.push('broken.stop') } })
    agent.add('never', { start: () => { calls.push('never.start') }, stop: () => { calls.push('never.stop') } })

    const err = await agent.start().then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof StartError, `rejects with a StartError, got ${String(err)}`)
    assert.equal(err.name, 'StartError')
    assert.equal(err.part, 'broken')
    assert.equal(err.message, 'broken failed to start: cannot open the widget')

    const started = partsThat(lines, 'started')
    assert.deepEqual(started, ['data-dir', 'tracing', 'libp2p', 'membership', 'leave', 'health', 'ledger'])
    // The part that failed is stopped too (stop is safe on a half-started part), then the rest in reverse.
    assert.deepEqual(partsThat(lines, 'stopped'), ['broken', ...[...started].reverse()])
    assert.deepEqual(calls, ['ledger.start', 'broken.stop', 'ledger.stop'])
    // A rollback is no graceful stop: nothing is announced.
    assert.equal(lines.some(l => l.msg === 'left the cluster'), false)

    // The data dir is free again, and a stop after the failed start does nothing.
    const lock = await DirLock.acquire(cfg.dataDir)
    lock.release()
    await agent.stop()
    assert.deepEqual(calls, ['ledger.start', 'broken.stop', 'ledger.stop'])
  })

  it('a graceful stop announces the leave before any part stops: a peer sees this node left', async () => {
    const lines: LogLine[] = []
    const leaving = new Agent(await config(), recordingLogger(lines))
    agents.push(leaving)
    const a = await leaving.start()
    const staying = new Agent(await config({ bootstrap: [a.addrs[0]] }), pino({ level: 'silent' }))
    agents.push(staying)
    const b = await staying.start()
    const stateOf = async (peerId: string): Promise<string | undefined> => {
      const members = await (await fetch(`http://${b.api}/v1/members`)).json() as Array<{ peerId: string, state: string }>
      return members.find(m => m.peerId === peerId)?.state
    }
    await waitFor(async () => await stateOf(a.peerId) === 'alive', 30_000, 'the peer sees the node alive')

    await leaving.stop()
    // Announced and acknowledged within the stop; anything else would be suspect first.
    const seen = await waitFor(async () => { const s = await stateOf(a.peerId); return s !== 'alive' ? s : undefined }, 10_000, 'the peer sees the node go')
    assert.equal(seen, 'left')
    const at = (msg: string): number => lines.findIndex(l => l.msg === msg)
    assert.ok(at('left the cluster') >= 0, 'the leave was announced')
    const firstStop = lines.findIndex(l => l.part !== undefined && l.msg === `${l.part} stopped`)
    assert.ok(at('left the cluster') < firstStop, 'announced before any part stopped')
  })
})
