/**
 * Failing to join is said out loud (issue 11, item 6), with real processes:
 * a dead bootstrap port, a network-key mismatch and a wrong peer id in the
 * bootstrap address each give, within seconds, a warning naming the address
 * and the reason, a count in mycel_bootstrap_dial_failures_total{reason},
 * and `joined: false` with that reason in `GET /v1/status` and in
 * `mycel status`; an agent that does join says so.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKey } from '@libp2p/pnet'
import { AgentProcess, CLI, freePort, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)
/** "Within a few seconds" of the agent serving its API (test profile: redial every 0.1-2 s, 2 s per dial; slack for a loaded CI host). */
const WITHIN_MS = 15_000

interface Bootstrap { addr: string, state: string, failures: number, lastError: { reason: string, message: string } | null }
interface Status { joined: boolean, bootstrap: Bootstrap[] }

describe('bootstrap failures are reported (real processes)', function () {
  this.timeout(180_000)
  let root: string
  const agents: AgentProcess[] = []
  const start = async (opts: Parameters<typeof AgentProcess.start>[0]): Promise<AgentProcess> => {
    const a = await AgentProcess.start(opts)
    agents.push(a)
    return a
  }

  before(async () => { root = await mkdtemp(join(tmpdir(), 'mycel-bootfail-')) })
  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    await rm(root, { recursive: true, force: true })
  })

  const psk = async (name: string): Promise<string> => {
    const key = new Uint8Array(95)
    generateKey(key)
    const path = join(root, name)
    await writeFile(path, key, { mode: 0o600 })
    return path
  }

  /** Wait until every bootstrap address has failed with the expected reason; returns the status. */
  const failedWith = async (a: AgentProcess, reasons: string[]): Promise<Status> => await waitFor(async () => {
    const s = await a.get<Status>('/v1/status')
    if (s.bootstrap.length === reasons.length && s.bootstrap.every((b, i) => b.state === 'failing' && b.lastError?.reason === reasons[i])) return s
    throw new Error(`last status: ${JSON.stringify(s.bootstrap.map(b => [b.state, b.lastError?.reason, b.lastError?.message]))}`)
  }, WITHIN_MS, `bootstrap reasons ${reasons.join(', ')}`)

  it('a dead port, a network-key mismatch and a wrong peer id each say why, in the log, the metric and the status', async () => {
    const open = await start({})
    const keyed = await start({ extraArgs: ['--network-key', await psk('k1.key')] })
    const dead = `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${open.peerId}`
    const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const wrongId = `/ip4/127.0.0.1/tcp/${open.port}/p2p/${stranger}`

    // Another network key than `keyed`'s, and a dead port.
    const x = await start({ extraArgs: ['--network-key', await psk('k2.key')], bootstrap: [dead, keyed.addr] })
    // The right address of a running agent, with another peer id.
    const y = await start({ bootstrap: [wrongId] })
    // And one that joins.
    const ok = await start({ bootstrap: [open.addr] })

    const sx = await failedWith(x, ['refused', 'handshake_failed'])
    assert.equal(sx.joined, false)
    assert.match(sx.bootstrap[1].lastError?.message ?? '', /network keys differ/)
    const sy = await failedWith(y, ['wrong_peer_id'])
    assert.equal(sy.joined, false)
    assert.ok(sy.bootstrap[0].lastError?.message.includes(open.peerId), sy.bootstrap[0].lastError?.message)

    // One warning per address, naming it and the reason.
    assert.match(x.stderr, new RegExp(`"level":40[^\\n]*cannot join through bootstrap peer ${dead}: refused`))
    assert.match(x.stderr, new RegExp(`"level":40[^\\n]*cannot join through bootstrap peer ${keyed.addr}: handshake_failed`))
    assert.match(y.stderr, new RegExp(`"level":40[^\\n]*cannot join through bootstrap peer ${wrongId}: wrong_peer_id`))

    // Counted by reason.
    const metrics = await (await fetch(`http://${x.api}/metrics`)).text()
    assert.match(metrics, /^mycel_bootstrap_dial_failures_total\{reason="refused"\} [1-9]/m)
    assert.match(metrics, /^mycel_bootstrap_dial_failures_total\{reason="handshake_failed"\} [1-9]/m)

    // And `mycel status` says it in words.
    const { stdout } = await run(process.execPath, [CLI, 'status', '--api', x.api], { timeout: 30_000 })
    assert.match(stdout, /^joined: +no \(2 of 2 bootstrap peers failing/m)
    assert.match(stdout, new RegExp(`${dead} +failing: refused`))
    assert.match(stdout, /failing: handshake_failed/)

    // The agent that could join says so.
    const sok = await waitFor(async () => {
      const s = await ok.get<Status>('/v1/status')
      return s.joined ? s : undefined
    }, 30_000, 'the good agent to join')
    assert.equal(sok.bootstrap[0].state, 'connected')
    assert.equal(sok.bootstrap[0].lastError, null)
    const okText = (await run(process.execPath, [CLI, 'status', '--api', ok.api], { timeout: 30_000 })).stdout
    assert.match(okText, /^joined: +yes$/m)
  })
})
