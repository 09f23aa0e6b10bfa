/**
 * One test-plan instance: its process (in its own process group, so the plan and whatever it starts,
 * e.g. a mycel agent, are killed together), its output files, and its outcome as told by the sdk's
 * events on stdout (`{"event":{"success_event":...}}` lines, one JSON object per line).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'

export type InstanceStatus = 'pending' | 'running' | 'success' | 'failure' | 'crash' | 'timeout'

export interface InstanceSpec {
  /** 0-based over the whole run */
  index: number
  group: string
  /** 0-based within its group */
  groupIndex: number
  hostname: string
  ip: string
  netns?: string
  outputsDir: string
  tempDir: string
  env: Record<string, string>
}

export interface InstanceSummary {
  index: number
  group: string
  groupIndex: number
  hostname: string
  ip: string
  status: InstanceStatus
  error?: string
  exitCode: number | null
  signal: string | null
  startedAt?: string
  durationMs?: number
  /** peak resident memory of the instance's whole process group (plan + agent), bytes */
  peakRssBytes: number
  /** resident memory of the process group at the last sample before the instance ended, bytes */
  lastRssBytes: number
  /** CPU time (user + system) of the instance's processes, as last sampled, seconds */
  cpuSeconds: number
}

export class Instance {
  status: InstanceStatus = 'pending'
  error?: string
  exitCode: number | null = null
  signal: string | null = null
  peakRss = 0
  lastRss = 0
  /** last sampled CPU ticks per pid of the group (processes that ended keep their last value) */
  readonly cpuTicks = new Map<number, number>()
  private child?: ChildProcess
  private startedAt?: number
  private endedAt?: number
  private readonly started = deferred()
  private readonly exited = deferred()
  private sawStart = false

  constructor (readonly spec: InstanceSpec) {}

  get pid (): number | undefined { return this.child?.pid }
  get running (): boolean { return this.status === 'running' || (this.child !== undefined && this.endedAt === undefined) }

  /** Resolves when the sdk reported start_event, or the process ended. */
  whenStarted (): Promise<void> { return this.started.promise }
  whenExited (): Promise<void> { return this.exited.promise }

  start (argv: string[], cwd: string): void {
    const out = createWriteStream(`${this.spec.outputsDir}/stdout.log`)
    const err = createWriteStream(`${this.spec.outputsDir}/stderr.log`)
    const cmd = this.spec.netns === undefined
      ? argv
      // A namespace of its own, and a UTS namespace so os.hostname() names this instance (the sdk
      // publishes network configs on `network:<hostname>`).
      : ['ip', 'netns', 'exec', this.spec.netns, 'unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', this.spec.hostname, ...argv]
    this.startedAt = Date.now()
    this.status = 'running'
    const child = spawn(cmd[0], cmd.slice(1), { cwd, env: this.spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    child.stderr?.pipe(err)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', line => { out.write(line + '\n'); this.onLine(line) })
    child.on('error', e => { this.finish(null, null, `spawn failed: ${e.message}`, out, err) })
    child.on('close', (code, signal) => { this.finish(code, signal, undefined, out, err) })
  }

  private onLine (line: string): void {
    if (!line.startsWith('{') || !line.includes('"event"')) return
    let ev: Record<string, any>
    try {
      ev = JSON.parse(line).event
    } catch {
      return
    }
    if (typeof ev !== 'object' || ev === null) return
    if (ev.start_event !== undefined && !this.sawStart) {
      this.sawStart = true
      this.started.resolve()
    } else if (ev.success_event !== undefined && this.status === 'running') {
      this.status = 'success'
    } else if (ev.failure_event !== undefined && this.status === 'running') {
      this.status = 'failure'
      this.error = String(ev.failure_event.error ?? '')
    } else if (ev.crash_event !== undefined && this.status === 'running') {
      this.status = 'crash'
      this.error = String(ev.crash_event.error ?? '')
    }
  }

  private finish (code: number | null, signal: NodeJS.Signals | null, why: string | undefined, out: WriteStream, err: WriteStream): void {
    if (this.endedAt !== undefined) return
    this.endedAt = Date.now()
    this.exitCode = code
    this.signal = signal
    if (this.status === 'running') {
      // Ended without reporting an outcome: testground counts that as a crash.
      this.status = 'crash'
      this.error = why ?? `exited (code ${code ?? '-'}, signal ${signal ?? '-'}) without reporting an outcome`
    }
    out.end()
    err.end()
    this.started.resolve()
    this.exited.resolve()
  }

  /** Marks the instance failed for a runner-side reason (e.g. an unsupported network config) and stops it. */
  fail (status: 'failure' | 'timeout', reason: string): void {
    if (this.endedAt !== undefined) return
    if (this.status === 'running' || this.status === 'success') {
      this.status = status
      this.error = reason
    }
    this.kill('SIGTERM')
  }

  /** Signals the whole process group (plan, agent and anything else it started). */
  kill (sig: NodeJS.Signals): void {
    if (this.child?.pid === undefined || this.endedAt !== undefined) return
    try {
      process.kill(-this.child.pid, sig)
    } catch { /* already gone */ }
  }

  summary (): InstanceSummary {
    return {
      index: this.spec.index,
      group: this.spec.group,
      groupIndex: this.spec.groupIndex,
      hostname: this.spec.hostname,
      ip: this.spec.ip,
      status: this.status,
      error: this.error,
      exitCode: this.exitCode,
      signal: this.signal,
      startedAt: this.startedAt === undefined ? undefined : new Date(this.startedAt).toISOString(),
      durationMs: this.startedAt === undefined ? undefined : (this.endedAt ?? Date.now()) - this.startedAt,
      peakRssBytes: this.peakRss,
      lastRssBytes: this.lastRss,
      cpuSeconds: Math.round([...this.cpuTicks.values()].reduce((a, b) => a + b, 0) / CLK_TCK * 100) / 100
    }
  }
}

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>(r => { resolve = r })
  return { promise, resolve }
}

const PAGE = 4096
/** USER_HZ: /proc reports CPU time in these ticks (100 on Linux) */
const CLK_TCK = 100

export interface GroupSample { rss: number, cpuTicks: Map<number, number> }

/**
 * Resident memory and CPU ticks per process group, from /proc/<pid>/stat (after the command name:
 * pgrp is field 5, utime 14, stime 15, rss in pages 24). One pass over /proc serves every instance.
 */
export async function sampleRss (pgids: Set<number>): Promise<Map<number, GroupSample>> {
  const out = new Map<number, GroupSample>()
  let pids: string[]
  try {
    pids = (await readdir('/proc')).filter(p => /^\d+$/.test(p))
  } catch {
    return out
  }
  await Promise.all(pids.map(async pid => {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const pgrp = Number(f[2])
      if (!pgids.has(pgrp)) return
      let g = out.get(pgrp)
      if (g === undefined) {
        g = { rss: 0, cpuTicks: new Map() }
        out.set(pgrp, g)
      }
      g.rss += Number(f[21]) * PAGE
      g.cpuTicks.set(Number(pid), Number(f[11]) + Number(f[12]))
    } catch { /* the process ended meanwhile */ }
  }))
  return out
}
