/**
 * Signed fan-out commands with real processes (issue 17 item 1): four
 * agents in two regions share a genesis whose critical config declares one
 * operator command. `command run ping` answers from all four; an undeclared
 * command and an unauthorised caller are refused on every target; a declared
 * command runs with a typed parameter on one region; a target that hangs
 * (SIGSTOP) is reported as missing after the timeout; the audit record
 * reaches the other nodes; the admin's built-ins run.
 */
import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'

interface Result { node: string, ok: boolean, exitCode: number | null, output: string, error?: string }
interface Reply { id: string, expected: string[], missing: string[], results: Result[] }

/** The built CLI, async so the agents of this process keep being served meanwhile. */
async function mycel (...args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('close', (status) => { resolve({ status, stdout, stderr }) })
  })
}

describe('signed fan-out commands (real processes)', function () {
  this.timeout(120_000)
  let root: string
  let agents: AgentProcess[] = []
  let ids: string[]

  const run = async (a: AgentProcess, body: Record<string, unknown>): Promise<Reply> => {
    const r = await a.request('POST', '/v1/commands', body)
    assert.equal(r.status, 200, JSON.stringify(r.json))
    return r.json as Reply
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-commands-'))
    const dirs = [0, 1, 2, 3].map(i => join(root, `a${i}`))
    ids = []
    for (const d of dirs) ids.push((await createIdentity(d)).peerId)
    const genesis = join(root, 'genesis.json')
    const commands = { 'echo-word': { argv: ['/bin/echo', 'said', '{word}'], params: { word: { type: 'string', pattern: '[a-z]{1,16}' } }, allow: [ids[0]], timeout: '5s' } }
    await writeFileDurable(genesis, genesisToJson(createGenesis({ networkId: 'it-commands', validators: [ids[0]], admins: [ids[0]], values: { commands: JSON.stringify(commands) } })), 0o644)
    const regions = ['east', 'east', 'west', 'west']
    const first = await AgentProcess.start({ dataDir: dirs[0], region: regions[0], extraArgs: ['--genesis', genesis] })
    agents = [first, ...await Promise.all(dirs.slice(1).map(async (d, i) =>
      await AgentProcess.start({ dataDir: d, region: regions[i + 1], extraArgs: ['--genesis', genesis], bootstrap: [first.addr] })))]
    // Ready: every agent knows all four, and a ping from the first reaches them all (the gossip mesh formed, connections to the originator open).
    for (const a of agents) await waitFor(async () => (await a.members()).filter(m => m.state === 'alive').length === 4, 30_000, 'all four members')
    await waitFor(async () => (await run(agents[0], { name: 'ping', timeoutMs: 3_000 })).results.length === 4, 30_000, 'a ping answered by all four')
  })

  after(async () => {
    for (const a of agents) await a.cleanup().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })

  it('`command run ping` answers from all four, in a table with the summary line, and is audited', async () => {
    const r = await mycel('command', 'run', 'ping', '--api', agents[1].api)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^NODE\s+OK\s+EXIT\s+DURATION\s+OUTPUT/)
    assert.equal((r.stdout.match(/ ok .*pong region=(east|west)/g) ?? []).length, 4, r.stdout)
    assert.match(r.stdout, /4 of 4 answered\n$/)
    const json = JSON.parse((await mycel('command', 'run', 'ping', '--region', 'west', '--json', '--api', agents[0].api)).stdout) as Reply
    assert.deepEqual(json.results.map(x => x.node).sort(), [ids[2], ids[3]].sort())
    // The originator's audit record reaches every node through replicated config.
    await waitFor(async () => {
      const audit = await agents[3].get('/v1/commands/audit') as { records: Array<{ id: string, name: string, answered: number, expected: number }> }
      return audit.records.find(x => x.id === json.id && x.answered === 2 && x.expected === 2)
    }, 15_000, 'the audit record on another node')
  })

  it('refuses an undeclared command and an unauthorised caller on every target', async () => {
    const undeclared = await run(agents[0], { name: 'format-disk' })
    assert.equal(undeclared.results.length, 4)
    for (const x of undeclared.results) assert.match(x.error ?? '', /^undeclared:/, JSON.stringify(x))
    assert.ok(undeclared.results.every(x => !x.ok))
    // ids[1] is neither an admin nor in echo-word's allow list.
    for (const body of [{ name: 'gc' }, { name: 'echo-word', args: ['hello'] }]) {
      const r = await run(agents[1], body)
      assert.equal(r.results.length, 4, JSON.stringify(r))
      for (const x of r.results) assert.match(x.error ?? '', /^unauthorised:/, JSON.stringify(x))
    }
    const cli = await mycel('command', 'run', 'gc', '--api', agents[1].api)
    assert.equal(cli.status, 1)
    assert.match(cli.stdout, /FAIL .*unauthorised/)
    assert.equal((await mycel('command', 'run', 'ping', '--timeout', 'soon', '--api', agents[1].api)).status, 2)
  })

  it('runs a declared command with a typed parameter on one region, and refuses a value outside its type', async () => {
    const r = await mycel('command', 'run', 'echo-word', 'hello', '--region', 'east', '--json', '--api', agents[0].api)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const reply = JSON.parse(r.stdout) as Reply
    assert.deepEqual(reply.results.map(x => x.node).sort(), [ids[0], ids[1]].sort())
    for (const x of reply.results) assert.deepEqual([x.ok, x.exitCode, x.output], [true, 0, 'said hello\n'])
    const bad = await run(agents[0], { name: 'echo-word', args: ['hello; reboot'], regions: ['east'] })
    assert.equal(bad.results.length, 2)
    for (const x of bad.results) assert.match(x.error ?? '', /^bad_params:/)
  })

  it('runs the admin-only built-ins for the admin', async () => {
    const collect = await run(agents[0], { name: 'collect', regions: ['east'] })
    assert.equal(collect.results.length, 2)
    for (const x of collect.results) {
      assert.ok(x.ok, JSON.stringify(x))
      assert.match(x.output, /^collect: 4 members, 0 faults/)
      const bundle = JSON.parse(x.output.split('\n')[1] ?? '') as { members: unknown[], metrics: string }
      assert.equal(bundle.members.length, 4)
      assert.match(bundle.metrics, /mycel_commands_received_total/)
    }
    const gc = await run(agents[0], { name: 'gc', nodes: [ids[2]] })
    assert.deepEqual(gc.results.map(x => [x.node, x.ok]), [[ids[2], true]])
    // These agents run without --config: nothing to reload, and they say so.
    const reload = await run(agents[0], { name: 'config-reload', nodes: [ids[1]] })
    assert.match(reload.results[0]?.error ?? '', /without --config/)
    const restart = await run(agents[0], { name: 'component-restart', args: ['web'], nodes: [ids[1]] })
    assert.match(restart.results[0]?.error ?? '', /no instance of component web/)
  })

  it('reports a hanging target as missing after the timeout', async () => {
    const hung = agents[3]
    process.kill(hung.agentPid, 'SIGSTOP')
    try {
      const started = Date.now()
      const r = await mycel('command', 'run', 'ping', '--timeout', '1500ms', '--api', agents[0].api)
      assert.ok(Date.now() - started < 10_000)
      assert.equal(r.status, 1)
      assert.match(r.stdout, new RegExp(`3 of 4 answered; no answer from: ${hung.peerId}\\n$`))
    } finally {
      process.kill(hung.agentPid, 'SIGCONT')
    }
  })
})
