/**
 * launcher/run.ts with real child processes: tiny fake builds (a
 * package.json and a dist/daemon/cli.js of a few lines) that become ready,
 * exit at once, never become ready, or crash, so every path of the loop
 * runs in about a second: trial → good, switch, the boot counter giving up,
 * the deadline with SIGKILL escalation, a crash of the good build, signals,
 * and a damaged state file.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { coreStatePath, EXIT_SWITCH_CORE } from '../../launcher/contract.js'
import { Launcher } from '../../launcher/run.js'
import { CoreStateCorruptError, readState, writeState } from '../../launcher/state-file.js'
import { requestTry, type LauncherState } from '../../launcher/state.js'
import type { LauncherTunables } from '../../launcher/tunables.js'
import { waitFor } from '../../harness/agent-process.js'

const TUNABLES: LauncherTunables = { readyDeadlineMs: 1_500, maxAttempts: 2, readyPollMs: 50, stopTimeoutMs: 500 }

type Kind = 'ready' | 'exit' | 'hang' | 'crash'

/** A fake agent: logs its start, then behaves as `kind` says. SIGUSR2 makes a ready one exit with the switch code. */
function fakeCli (kind: Kind): string {
  return `
const fs = require('node:fs'), http = require('node:http'), path = require('node:path')
const dataDir = process.argv[process.argv.indexOf('--data-dir') + 1]
const version = require(path.join(__dirname, '..', '..', 'package.json')).version
fs.appendFileSync(path.join(dataDir, 'starts.log'), JSON.stringify({ version, pid: process.pid, args: process.argv.slice(2), launcher: process.env.MYCEL_LAUNCHER }) + '\\n')
const kind = ${JSON.stringify(kind)}
if (kind === 'exit') process.exit(1)
if (kind === 'hang') { process.on('SIGTERM', () => {}); setInterval(() => {}, 1e6) } else {
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGUSR2', () => process.exit(${EXIT_SWITCH_CORE}))
  const s = http.createServer((req, res) => { res.statusCode = req.url === '/readyz' ? 200 : 404; res.end('{}') })
  s.listen(0, '127.0.0.1', () => {
    fs.writeFileSync(path.join(dataDir, 'agent.json'), JSON.stringify({ pid: process.pid, api: '127.0.0.1:' + s.address().port }))
    if (kind === 'crash') setTimeout(() => process.exit(3), 300)
  })
}
`
}

interface Start { version: string, pid: number, args: string[], launcher: string }

describe('launcher/run with fake builds', function () {
  this.timeout(30_000)
  let root: string
  let dataDir: string
  const logs: string[] = []

  async function build (version: string, kind: Kind): Promise<{ version: string, dir: string }> {
    const dir = join(root, `build-${version}`)
    await mkdir(join(dir, 'dist', 'daemon'), { recursive: true })
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'mycel', version }))
    await writeFile(join(dir, 'dist', 'daemon', 'cli.js'), fakeCli(kind))
    return { version, dir }
  }

  function launcher (base: { dir: string, version: string }): Launcher {
    return new Launcher({
      dataDir,
      args: ['--data-dir', dataDir, '--profile', 'test'],
      base: { root: base.dir, version: base.version },
      tunables: TUNABLES,
      log: (level, msg) => { logs.push(`${level}: ${msg}`) }
    })
  }

  async function starts (): Promise<Start[]> {
    try { return (await readFile(join(dataDir, 'starts.log'), 'utf8')).trim().split('\n').map(l => JSON.parse(l) as Start) } catch { return [] }
  }

  const state = async (): Promise<LauncherState> => await readState(coreStatePath(dataDir))

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-launcher-run-'))
    dataDir = join(root, 'data')
    await mkdir(dataDir)
    logs.length = 0
  })
  afterEach(async () => {
    for (const s of await starts()) try { process.kill(s.pid, 'SIGKILL') } catch {}
    await rm(root, { recursive: true, force: true })
  })

  it('no state: starts the base install as `cli.js agent <args>` with MYCEL_LAUNCHER=1; SIGTERM is passed on and its code returned', async () => {
    const base = await build('0.1.0', 'ready')
    const l = launcher(base)
    const done = l.run()
    const [first] = await waitFor(async () => { const s = await starts(); return s.length === 1 ? s : undefined }, 5_000, 'the base started')
    assert.deepEqual(first!.args, ['agent', '--data-dir', dataDir, '--profile', 'test'])
    assert.equal(first!.launcher, '1')
    assert.equal(first!.version, '0.1.0')
    l.stop('SIGTERM')
    assert.equal(await done, 0)
    assert.deepEqual(await state(), { bad: [] }, 'nothing written for a plain start')
  })

  it('a trial that becomes ready is good; a switch to a build that exits at once is given up after maxAttempts and the good build returns', async () => {
    const base = await build('0.1.0', 'ready')
    const v2 = await build('0.2.0', 'ready')
    const v3 = await build('0.3.0', 'exit')
    await writeState(coreStatePath(dataDir), requestTry({ bad: [] }, v2))
    const l = launcher(base)
    const done = l.run()
    await waitFor(async () => (await state()).good?.version === '0.2.0', 10_000, '0.2.0 confirmed')
    assert.equal((await state()).trying, undefined)
    // The agent asks for 0.3.0: writes `trying`, exits with the switch code.
    await writeState(coreStatePath(dataDir), requestTry(await state(), v3))
    const running = (await starts()).at(-1)!
    process.kill(running.pid, 'SIGUSR2')
    await waitFor(async () => (await starts()).length === 4, 10_000, 'two trials of 0.3.0, then 0.2.0 again')
    assert.deepEqual((await starts()).map(s => s.version), ['0.2.0', '0.3.0', '0.3.0', '0.2.0'])
    const s = await state()
    assert.deepEqual(s.good, v2)
    assert.equal(s.trying, undefined)
    assert.equal(s.bad.length, 1)
    assert.deepEqual({ ...s.bad[0], at: 0 }, { ...v3, at: 0, attempts: 2, reason: 'exited with code 1 before it was ready', returnedTo: '0.2.0' })
    assert.ok(logs.some(m => m === 'error: build 0.3.0 did not become ready after 2 attempts: returning to 0.2.0'), logs.join('\n'))
    l.stop('SIGTERM')
    assert.equal(await done, 0)
  })
  it('a trial that never becomes ready is stopped at the deadline (SIGKILL when it ignores SIGTERM), twice, then the base install starts', async () => {
    const base = await build('0.1.0', 'ready')
    const hang = await build('0.9.0', 'hang')
    await writeState(coreStatePath(dataDir), requestTry({ bad: [] }, hang))
    const l = launcher(base)
    const t0 = Date.now()
    const done = l.run()
    await waitFor(async () => (await starts()).length === 3, 15_000, 'two trials, then the base')
    const took = Date.now() - t0
    assert.ok(took >= 2 * TUNABLES.readyDeadlineMs, `gave up after ${took} ms: before two deadlines passed`)
    const ss = await starts()
    assert.deepEqual(ss.map(x => x.version), ['0.9.0', '0.9.0', '0.1.0'])
    for (const x of ss.slice(0, 2)) assert.throws(() => process.kill(x.pid, 0), 'the hung trial was killed')
    const s = await state()
    assert.equal(s.good, undefined)
    assert.equal(s.bad[0]?.reason, 'not ready within 1.5 s')
    assert.equal(s.bad[0]?.returnedTo, '0.1.0')
    assert.ok(logs.some(m => m.startsWith('warn: the agent did not stop within')), logs.join('\n'))
    l.stop('SIGTERM')
    assert.equal(await done, 0)
  })

  it('a good build that crashes: the launcher exits with its code (systemd restarts the unit)', async () => {
    const base = await build('0.1.0', 'crash')
    assert.equal(await launcher(base).run(), 3)
  })

  it('a damaged state file: nothing is started, CoreStateCorruptError with the recovery step', async () => {
    const base = await build('0.1.0', 'ready')
    await mkdir(join(dataDir, 'core'))
    await writeFile(coreStatePath(dataDir), 'garbage\n')
    await assert.rejects(launcher(base).run(), (err: Error) => err instanceof CoreStateCorruptError && /remove the file/.test((err as CoreStateCorruptError).recovery))
    assert.deepEqual(await starts(), [])
  })
})
