/**
 * host/ with real processes (a tiny /bin/sh component): restart after
 * SIGKILL, `failed` after the burst, a hanging health check killed at its
 * timeout, and re-adoption by a second supervisor over the same state dir —
 * also after the process running the first one was SIGKILLed — while a
 * recorded pid now used by another process is left alone. The component
 * user (as root: really `nobody`; not root: UserSwitchError) and the
 * systemd-scope strategy through a stand-in systemd-run.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { waitFor } from '../../harness/agent-process.js'
import { hostTunables } from '../../host/constants.js'
import { runProbe } from '../../host/probes.js'
import { identify } from '../../host/proc.js'
import { runRecordPath, writeRunRecord } from '../../host/run-record.js'
import { Supervisor, type SupervisorInit } from '../../host/supervisor.js'
import { COMPONENT_SLICE } from '../../host/systemd-scope.js'
import { resolveUser } from '../../host/user.js'
import { systemClock } from '../../lib/clock.js'

const t = hostTunables.defaults('test')
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
const env = { PATH: '/usr/bin:/bin' }

describe('component supervisor (real processes)', function () {
  this.timeout(60_000)
  let dir: string
  const sups: Supervisor[] = []
  const pids: number[] = []
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-host-')) })
  afterEach(async () => {
    for (const s of sups.splice(0)) await s.stop()
    for (const p of pids.splice(0)) { try { process.kill(-p, 'SIGKILL') } catch {} try { process.kill(p, 'SIGKILL') } catch {} }
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  const supervisor = (argv: string[], more: Partial<SupervisorInit> = {}): Supervisor => {
    const s = new Supervisor({ spec: { id: 'probe', argv, cwd: dir, env }, stateDir: join(dir, 'state'), logDir: join(dir, 'logs'), tunables: t, ...more })
    sups.push(s)
    return s
  }
  /** A component that notes each start in `starts` and then waits. */
  const looper = (): string[] => ['/bin/sh', '-c', `echo "started $$" >> ${join(dir, 'starts')}; echo hello; exec sleep 1000`]
  const starts = async (): Promise<number> => (await readFile(join(dir, 'starts'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length

  it('runs the component with output in its log; SIGKILL of it → restarted with restarts ≥ 1', async () => {
    const s = supervisor(looper())
    await s.start()
    const first = s.status().pid as number
    assert.equal(s.status().state, 'running')
    await waitFor(async () => (await readFile(join(dir, 'logs', 'probe.log'), 'utf8').catch(() => '')).includes('hello'), 10_000, 'log output')
    process.kill(first, 'SIGKILL')
    await waitFor(() => s.status().state === 'running' && s.status().pid !== first, 10_000, 'restart')
    assert.ok(s.status().restarts >= 1)
    assert.equal(alive(first), false)
    await s.stop()
    assert.equal(s.status().state, 'stopped')
    await waitFor(async () => await starts() === 2, 5_000, 'two starts')
  })

  it('an entry that exits at once ends `failed` after the burst', async () => {
    const s = supervisor(['/bin/sh', '-c', `echo x >> ${join(dir, 'starts')}; exit 3`])
    await s.start()
    await waitFor(() => s.status().state === 'failed', 20_000, 'failed')
    assert.equal(await starts(), t.startLimitBurst)
    assert.deepEqual(s.status().lastExit, { code: 3, signal: null })
  })

  it('a hanging exec health check is killed with its process group at its timeout', async () => {
    const before = Date.now()
    const r = await runProbe({ exec: ['/bin/sh', '-c', `echo $$ > ${join(dir, 'sh')}; sleep 30 & echo $! > ${join(dir, 'sleep')}; wait`] }, { clock: systemClock, timeoutMs: 300, cwd: dir, env })
    const took = Date.now() - before
    assert.deepEqual(r, { ok: false, detail: 'timed out after 300 ms' })
    assert.ok(took >= 300 && took < 5_000, `took ${took} ms`)
    const sh = Number(await readFile(join(dir, 'sh'), 'utf8'))
    const sleeper = Number(await readFile(join(dir, 'sleep'), 'utf8'))
    await waitFor(() => !alive(sh) && !alive(sleeper), 5_000, 'check and its child gone')
    assert.deepEqual(await runProbe({ exec: ['/bin/sh', '-c', 'exit 0'] }, { clock: systemClock, timeoutMs: 2_000, env }), { ok: true, detail: 'exit 0' })
  })

  it('a second supervisor over the same state dir adopts the running process (same pid), starts no other, and restarts it when it exits', async () => {
    const a = supervisor(looper())
    await a.start()
    const pid = a.status().pid as number
    pids.push(pid)
    // `running` means spawned; the shell writes its start line a moment later (under load, later still).
    await waitFor(async () => await starts() === 1, 10_000, 'the first instance to have run')
    await a.detach()
    sups.splice(sups.indexOf(a), 1)
    assert.ok(alive(pid))
    const b = supervisor(looper())
    await b.start()
    assert.equal(b.status().state, 'running')
    assert.equal(b.status().pid, pid)
    assert.equal(b.status().adopted, true)
    assert.equal(await starts(), 1, 'not started twice')
    process.kill(pid, 'SIGKILL')
    await waitFor(() => b.status().state === 'running' && b.status().pid !== pid, 10_000, 'restart after the adopted one exited')
    assert.equal(b.status().restarts, 1)
    await waitFor(async () => await starts() === 2, 10_000, 'the restarted instance to have run')
  })

  it('the component survives a SIGKILL of the process supervising it and is adopted by the next one', async () => {
    const script = [
      `import { Supervisor } from ${JSON.stringify(resolve('host/supervisor.ts'))}`,
      `import { hostTunables } from ${JSON.stringify(resolve('host/constants.ts'))}`,
      `const s = new Supervisor({ spec: { id: 'probe', argv: ${JSON.stringify(looper())}, cwd: ${JSON.stringify(dir)}, env: ${JSON.stringify(env)} }, stateDir: ${JSON.stringify(join(dir, 'state'))}, logDir: ${JSON.stringify(join(dir, 'logs'))}, tunables: hostTunables.defaults('test') })`,
      `s.addEventListener('supervisor:state', e => { if (e.detail.state === 'running') console.log('pid ' + e.detail.pid) })`,
      'await s.start()',
      'setInterval(() => {}, 1000)'
    ].join('\n')
    const agent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    agent.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const pid = Number((await waitFor(() => /pid (\d+)/.exec(out), 30_000, 'the first supervisor running it'))[1])
    pids.push(pid)
    await waitFor(async () => (await readFile(runRecordPath(join(dir, 'state'), 'probe')).catch(() => undefined)) !== undefined, 10_000, 'run record')
    await waitFor(async () => await starts() === 1, 10_000, 'the component to have run')
    agent.kill('SIGKILL')
    await new Promise(resolve => agent.once('exit', resolve))
    assert.ok(alive(pid), 'the component outlives its supervisor')
    const b = supervisor(looper())
    await b.start()
    assert.equal(b.status().pid, pid)
    assert.equal(b.status().adopted, true)
    assert.equal(await starts(), 1)
  })

  it('a recorded pid now used by another process is not adopted (nor signalled): a new instance starts', async () => {
    const other = spawn('/bin/sleep', ['1000'], { detached: true, stdio: 'ignore' })
    pids.push(other.pid as number)
    await new Promise(resolve => other.once('spawn', resolve))
    const real = identify(other.pid as number)
    assert.ok(real.startTime !== undefined)
    // As if our component had this pid before it died and the pid was handed on: another start time.
    await writeRunRecord(runRecordPath(join(dir, 'state'), 'probe'), { state: 'running', pid: real.pid, startTime: String(Number(real.startTime) - 1), bootId: real.bootId, argv: looper(), since: Date.now(), restarts: 2 })
    const s = supervisor(looper())
    await s.start()
    assert.equal(s.status().state, 'running')
    assert.notEqual(s.status().pid, real.pid)
    assert.equal(s.status().adopted, false)
    assert.equal(s.status().restarts, 3)
    await s.stop()
    assert.ok(alive(real.pid), 'the unrelated process is untouched')
  })

  it('user `nobody`: as root the component runs as it (uid, gid, none of the agent\'s groups) with its log file chowned to it (not the log dir); not root: UserSwitchError, nothing started', async () => {
    if (process.geteuid?.() !== 0) {
      // Any other user than the agent's own (root surely is one): nobody itself may run a component as nobody.
      const s = supervisor(looper(), { user: '0:0' })
      await assert.rejects(s.start(), (e: Error) => e.name === 'UserSwitchError')
      assert.equal(s.status().state, 'stopped')
      assert.equal(await starts(), 0)
      return
    }
    const nobody = await resolveUser('nobody')
    await chmod(dir, 0o755) // its cwd must be reachable for nobody
    const s = supervisor(['/bin/sh', '-c', 'echo "ids $(id -u) $(id -g) [$(id -G)]"; exec sleep 1000'], { user: 'nobody' })
    // Give the "agent" a supplementary group for the spawn, so that not inheriting it is seen.
    const groups = process.getgroups?.() ?? []
    process.setgroups?.([...groups, 4])
    try { await s.start() } finally { process.setgroups?.(groups) }
    const pid = s.status().pid as number
    pids.push(pid)
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    assert.match(status, new RegExp(`^Uid:\\s+${nobody.uid}\\s+${nobody.uid}\\s+${nobody.uid}\\s+${nobody.uid}$`, 'm'))
    assert.match(status, new RegExp(`^Gid:\\s+${nobody.gid}\\s+${nobody.gid}\\s+${nobody.gid}\\s+${nobody.gid}$`, 'm'))
    assert.match(status, /^Groups:\s*$/m, 'no supplementary groups')
    const log = join(dir, 'logs', 'probe.log')
    await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes('ids '), 10_000, 'log output')
    assert.match(await readFile(log, 'utf8'), new RegExp(`ids ${nobody.uid} ${nobody.gid} \\[${nobody.gid}\\]`))
    assert.equal((await stat(log)).uid, nobody.uid)
    // The dir stays the agent's: the component cannot plant a link where the agent opens or rotates its log.
    assert.equal((await stat(join(dir, 'logs'))).uid, 0)
    assert.equal((await stat(join(dir, 'state'))).uid, 0, 'the run records stay the agent\'s')
    await s.stop()
    assert.equal(s.status().state, 'stopped')
    assert.equal(alive(pid), false)
  })

  it('an unknown user is a named error before anything starts', async () => {
    const s = supervisor(looper(), { user: 'no-such-user-mycel' })
    await assert.rejects(s.start(), (e: Error) => e.name === 'UnknownUserError' && e.message.includes('no-such-user-mycel'))
    assert.equal(s.status().state, 'stopped')
    assert.equal(await starts(), 0)
  })

  it('systemd-scope strategy: the pid spawned through systemd-run is the component itself, and a second supervisor adopts it', async () => {
    // A stand-in for systemd-run (systemd is not PID 1 here): like the real one in --scope mode it execs the
    // command after `--` in its own process, so the pid and start time are the component's.
    const fake = join(dir, 'systemd-run')
    await writeFile(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(dir, 'args')}\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n`, { mode: 0o755 })
    const strategy = { strategy: 'systemd-scope' as const, systemdRun: fake, reason: 'test' }
    const a = supervisor(looper(), { strategy })
    await a.start()
    const pid = a.status().pid as number
    pids.push(pid)
    await waitFor(async () => await starts() === 1, 10_000, 'component started')
    assert.equal(await readFile(join(dir, 'starts'), 'utf8'), `started ${pid}\n`, 'the component runs as the spawned pid')
    const args = (await readFile(join(dir, 'args'), 'utf8')).split('\n')
    assert.ok(args.includes('--scope') && args.includes(`--slice=${COMPONENT_SLICE}`), args.join(' '))
    assert.ok(args.some(x => /^--unit=mycel-probe-[0-9a-z]+\.scope$/.test(x)), args.join(' '))
    await a.detach()
    sups.splice(sups.indexOf(a), 1)
    const b = supervisor(looper(), { strategy })
    await b.start()
    assert.equal(b.status().pid, pid)
    assert.equal(b.status().adopted, true)
    assert.equal(await starts(), 1)
  })
})
