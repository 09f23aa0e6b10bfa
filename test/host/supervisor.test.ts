/**
 * host/supervisor.ts on a virtual clock with a scripted launcher: restart
 * with backoff, the start limit (`failed`, no busy loop), stop with SIGTERM
 * then SIGKILL, and re-adoption from the run record. No real processes and
 * no sleeps; the real-process half is test/integration/component-supervisor.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostTunables } from '../../host/constants.js'
import type { ComponentProcess, ExitInfo, LaunchSpec, Launcher } from '../../host/process.js'
import { readRunRecord, runRecordPath } from '../../host/run-record.js'
import { Supervisor, type SupervisorState, type SupervisorStateChange } from '../../host/supervisor.js'
import { VirtualClock } from '../sim/clock.js'

class FakeProc implements ComponentProcess {
  readonly exited: Promise<ExitInfo>
  readonly signals: NodeJS.Signals[] = []
  alive = true
  released = false
  /** Exits on SIGTERM (false: only SIGKILL ends it). */
  obeysTerm = true
  private done = (_: ExitInfo): void => {}
  constructor (readonly pid: number, readonly startTime: string, readonly adopted: boolean, readonly bootId = 'boot') {
    this.exited = new Promise(resolve => { this.done = resolve })
  }

  exit (info: ExitInfo = { code: 1, signal: null }): void {
    if (!this.alive) return
    this.alive = false
    this.done(info)
  }

  signal = (sig: NodeJS.Signals): boolean => {
    this.signals.push(sig)
    if (!this.alive) return false
    if (sig === 'SIGKILL' || (sig === 'SIGTERM' && this.obeysTerm)) this.exit({ code: null, signal: sig })
    return true
  }

  release = (): void => { this.released = true }
}

/** Spawns fake processes; `adoptable` is what /proc would show as still running. */
class FakeLauncher implements Launcher {
  readonly procs: FakeProc[] = []
  readonly spawnedAt: number[] = []
  readonly specs: LaunchSpec[] = []
  adoptable = new Map<number, FakeProc>()
  /** Every spawned process exits right away with this (undefined: it keeps running). */
  exitAtOnce?: ExitInfo
  cannotSpawn = false
  private nextPid = 100
  constructor (private readonly clock: VirtualClock) {}

  spawn = async (spec: LaunchSpec): Promise<ComponentProcess> => {
    this.spawnedAt.push(this.clock.now())
    this.specs.push(spec)
    if (this.cannotSpawn) throw Object.assign(new Error('spawn /nope ENOENT'), { code: 'ENOENT' })
    const p = new FakeProc(this.nextPid++, `st${this.procs.length}`, false)
    this.procs.push(p)
    this.adoptable.set(p.pid, p)
    if (this.exitAtOnce !== undefined) p.exit(this.exitAtOnce)
    return p
  }

  adopt = (id: { pid: number, startTime?: string }): ComponentProcess | undefined => {
    const p = this.adoptable.get(id.pid)
    if (p === undefined || !p.alive || p.startTime !== id.startTime) return undefined
    const adopted = new FakeProc(p.pid, p.startTime, true)
    void p.exited.then(info => { adopted.exit(info) })
    adopted.signal = p.signal
    return adopted
  }
}

describe('host/supervisor (virtual clock)', () => {
  const t = hostTunables.create('test', { backoffJitter: 0 })
  let dir: string
  let clock: VirtualClock
  let launcher: FakeLauncher
  const sups: Supervisor[] = []
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-sup-'))
    clock = new VirtualClock(1_000_000)
    launcher = new FakeLauncher(clock)
  })
  afterEach(async () => {
    for (const s of sups.splice(0)) await s.detach()
    await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  })

  const make = (tunables = t, l: Launcher = launcher): { sup: Supervisor, states: SupervisorStateChange[] } => {
    const sup = new Supervisor({ spec: { id: 'web-probe', argv: ['/bin/true'], cwd: dir, env: {} }, stateDir: join(dir, 'state'), logDir: join(dir, 'logs'), tunables, clock, launcher: l })
    sups.push(sup)
    const states: SupervisorStateChange[] = []
    sup.addEventListener('supervisor:state', e => { states.push(e.detail) })
    return { sup, states }
  }
  const names = (s: SupervisorStateChange[]): SupervisorState[] => s.map(x => x.state)

  it('a component user is resolved once and handed to the launcher with the instance id on every start, restarts too', async () => {
    const uid = process.geteuid?.() ?? 0
    const gid = process.getegid?.() ?? 0
    launcher.exitAtOnce = { code: 1, signal: null }
    const sup = new Supervisor({ spec: { id: 'web-probe', argv: ['/bin/true'], cwd: dir, env: {} }, stateDir: join(dir, 'state'), logDir: join(dir, 'logs'), tunables: t, clock, launcher, user: `${uid}:${gid}` })
    sups.push(sup)
    await sup.start()
    await clock.run({ until: clock.now() + 60_000 })
    assert.equal(launcher.specs.length, t.startLimitBurst)
    assert.ok(launcher.specs.every(s => s.name === 'web-probe' && s.user?.uid === uid && s.user.gid === gid))
    // Without a user nothing is switched.
    const plain = new Supervisor({ spec: { id: 'other', argv: ['/bin/true'], cwd: dir, env: {} }, stateDir: join(dir, 'state2'), logDir: join(dir, 'logs'), tunables: t, clock, launcher })
    sups.push(plain)
    await plain.start()
    assert.equal(launcher.specs.length, t.startLimitBurst + 1)
    assert.equal(launcher.specs.at(-1)?.name, 'other')
    assert.equal(launcher.specs.at(-1)?.user, undefined)
  })

  it('an entry that exits at once is restarted with doubling delays, then `failed` after the burst, with no timer left (no busy loop)', async () => {
    launcher.exitAtOnce = { code: 1, signal: null }
    const { sup, states } = make()
    await sup.start()
    await clock.run({ until: clock.now() + 60_000 })
    assert.equal(sup.status().state, 'failed')
    assert.match(sup.status().reason ?? '', /start limit hit: 5 starts within 10000 ms/)
    assert.equal(launcher.spawnedAt.length, t.startLimitBurst)
    const gaps = launcher.spawnedAt.slice(1).map((at, i) => at - launcher.spawnedAt[i])
    assert.deepEqual(gaps, [50, 100, 200, 400])
    assert.equal(sup.status().restarts, t.startLimitBurst - 1)
    assert.equal(clock.pending, 0, 'a failed supervisor leaves no timer behind')
    assert.deepEqual(names(states), [...Array(4).fill(['starting', 'running', 'backoff']).flat(), 'starting', 'running', 'failed'])
    // Backoff events say how long; every event carries restarts and since.
    assert.deepEqual(states.filter(s => s.state === 'backoff').map(s => s.delayMs), [50, 100, 200, 400])
    assert.ok(states.every(s => typeof s.restarts === 'number' && typeof s.since === 'number'))
    assert.deepEqual(states.filter(s => s.state === 'running').map(s => s.pid), launcher.procs.map(p => p.pid))
  })

  it('a recorded `failed` stays failed across an agent restart; reset() starts it again with a fresh budget', async () => {
    launcher.exitAtOnce = { code: 1, signal: null }
    const { sup } = make()
    await sup.start()
    await clock.run({ until: clock.now() + 60_000 })
    assert.equal(sup.status().state, 'failed')
    await sup.detach()
    assert.equal((await readRunRecord(runRecordPath(join(dir, 'state'), 'web-probe')))?.state, 'failed')
    const before = launcher.spawnedAt.length
    const { sup: next } = make()
    await next.start()
    assert.equal(next.status().state, 'failed')
    assert.equal(launcher.spawnedAt.length, before, 'not started again')
    launcher.exitAtOnce = undefined
    await next.reset()
    assert.equal(next.status().state, 'running')
    assert.equal(next.status().restarts, t.startLimitBurst)
  })

  it('a run longer than backoffResetMs resets the delay to its minimum', async () => {
    const { sup, states } = make()
    await sup.start()
    for (let i = 0; i < 3; i++) {
      launcher.procs.at(-1)?.exit()
      await clock.run({ until: clock.now() + 1_000 })
    }
    assert.deepEqual(states.filter(s => s.state === 'backoff').map(s => s.delayMs), [50, 100, 200])
    await clock.run({ until: clock.now() + t.backoffResetMs })
    launcher.procs.at(-1)?.exit()
    await clock.run({ until: clock.now() + 1_000 })
    assert.deepEqual(states.filter(s => s.state === 'backoff').map(s => s.delayMs), [50, 100, 200, 50])
    assert.equal(sup.status().state, 'running')
    assert.equal(sup.status().restarts, 4)
  })

  it('a program that cannot be started counts as a failed start and ends `failed`, naming the cause', async () => {
    launcher.cannotSpawn = true
    const { sup } = make()
    await sup.start()
    await clock.run({ until: clock.now() + 60_000 })
    assert.equal(sup.status().state, 'failed')
    assert.match(sup.status().reason ?? '', /last: cannot start: Error: spawn \/nope ENOENT/)
    assert.equal(launcher.spawnedAt.length, t.startLimitBurst)
  })

  it('stop sends SIGTERM to the group, SIGKILL after stopTimeoutMs when ignored, and forgets the record', async () => {
    const { sup, states } = make()
    await sup.start()
    const p = launcher.procs[0]
    p.obeysTerm = false
    const stopped = sup.stop()
    await clock.tickAsync(t.stopTimeoutMs - 1)
    assert.deepEqual(p.signals, ['SIGTERM'])
    assert.equal(sup.status().state, 'stopping')
    await clock.tickAsync(1)
    await stopped
    // The last SIGKILL after the exit is for what the component left in its group.
    assert.deepEqual(p.signals, ['SIGTERM', 'SIGKILL', 'SIGKILL'])
    assert.equal(sup.status().state, 'stopped')
    assert.deepEqual(names(states), ['starting', 'running', 'stopping', 'stopped'])
    assert.equal(await readRunRecord(runRecordPath(join(dir, 'state'), 'web-probe')), undefined)
    assert.equal(launcher.spawnedAt.length, 1, 'a stopped component is not restarted')
    await sup.stop() // twice is fine
  })

  it('stop during backoff cancels the restart', async () => {
    const { sup } = make()
    await sup.start()
    launcher.procs[0].exit()
    await clock.tickAsync(0)
    assert.equal(sup.status().state, 'backoff')
    await sup.stop()
    await clock.run({ until: clock.now() + 60_000 })
    assert.equal(launcher.spawnedAt.length, 1)
    assert.equal(sup.status().state, 'stopped')
  })

  it('a second supervisor over the same state dir adopts the running process (same pid and start time), then restarts it when it exits', async () => {
    const { sup } = make()
    await sup.start()
    const first = launcher.procs[0]
    await sup.detach() // the agent stops (or dies): the process runs on
    assert.equal(first.released, true)
    const record = await readRunRecord(runRecordPath(join(dir, 'state'), 'web-probe'))
    assert.equal(record?.pid, first.pid)
    const { sup: next, states } = make()
    await next.start()
    assert.equal(next.status().state, 'running')
    assert.equal(next.status().pid, first.pid)
    assert.equal(next.status().adopted, true)
    assert.equal(launcher.spawnedAt.length, 1, 'never started twice')
    assert.deepEqual(names(states), ['running'])
    first.exit()
    await clock.run({ until: clock.now() + 1_000 })
    assert.equal(next.status().state, 'running')
    assert.equal(next.status().restarts, 1)
    assert.equal(launcher.spawnedAt.length, 2)
  })

  it('a recorded pid that now names another process is not adopted: a new one starts', async () => {
    const { sup } = make()
    await sup.start()
    const first = launcher.procs[0]
    await sup.detach()
    // The component died and its pid went to an unrelated process (another start time).
    launcher.adoptable.set(first.pid, new FakeProc(first.pid, 'another-start', false))
    const { sup: next } = make()
    await next.start()
    assert.equal(next.status().state, 'running')
    assert.notEqual(next.status().pid, first.pid)
    assert.equal(next.status().restarts, 1)
    assert.equal(launcher.spawnedAt.length, 2)
  })

  it('a damaged run record is refused: `failed` naming the file, nothing started (it might still run)', async () => {
    const { sup } = make()
    await sup.start()
    await sup.detach()
    await writeFile(runRecordPath(join(dir, 'state'), 'web-probe'), 'MYCELCR1 garbage')
    const { sup: next } = make()
    await next.start()
    assert.equal(next.status().state, 'failed')
    assert.match(next.status().reason ?? '', /CorruptFileError: .*web-probe\.run/)
    assert.equal(launcher.spawnedAt.length, 1)
    // Stopping it leaves the damaged record for the operator.
    await next.stop()
    assert.equal(next.status().state, 'stopped')
    await assert.rejects(readRunRecord(runRecordPath(join(dir, 'state'), 'web-probe')), { name: 'CorruptFileError' })
  })

  it('stop() of a supervisor that never started leaves an earlier record alone', async () => {
    const { sup } = make()
    await sup.start()
    await sup.detach()
    const { sup: idle } = make()
    await idle.stop()
    assert.equal((await readRunRecord(runRecordPath(join(dir, 'state'), 'web-probe')))?.pid, launcher.procs[0].pid)
  })
})
