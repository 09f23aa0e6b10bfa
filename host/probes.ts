/**
 * One health check run: exec, http or tcp, bounded by its timeout.
 *
 * - exec: the command runs in its own process group, so a check that hangs
 *   (or leaves a `sleep` behind) is killed whole with SIGKILL at its timeout
 *   and its leftovers once it exits. Exit code 0 passes.
 * - http: GET; 200–399 passes (Kubernetes' rule; a redirect is not followed).
 * - tcp: a connection accepted passes.
 *
 * The timeout runs on the injected clock; a probe never rejects: a failure
 * is a result with a one-line detail.
 */
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { setTimer, type Clock } from '../lib/clock.js'
import { errText } from '../lib/errors.js'
import { signalGroup } from './proc.js'

export type ProbeSpec =
  | { exec: readonly string[] }
  | { http: string }
  | { tcp: { host: string, port: number } }

export interface ProbeResult {
  ok: boolean
  /** One line: the exit code, the HTTP status, the error, or "timed out after N ms". */
  detail: string
}

export interface ProbeContext {
  clock: Clock
  timeoutMs: number
  /** For exec: working directory and whole environment (the component's). */
  cwd?: string
  env?: Readonly<Record<string, string>>
  /** For exec: run as this user (the component's), not the agent's. */
  user?: { uid: number, gid: number }
}

export async function runProbe (spec: ProbeSpec, ctx: ProbeContext): Promise<ProbeResult> {
  if ('exec' in spec) return await execProbe(spec.exec, ctx)
  if ('http' in spec) return await httpProbe(spec.http, ctx)
  return await tcpProbe(spec.tcp.host, spec.tcp.port, ctx)
}

const timedOut = (ms: number): ProbeResult => ({ ok: false, detail: `timed out after ${ms} ms` })

async function execProbe (argv: readonly string[], ctx: ProbeContext): Promise<ProbeResult> {
  return await new Promise<ProbeResult>(resolve => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ctx.cwd, env: ctx.env !== undefined ? { ...ctx.env } : undefined, detached: true, stdio: 'ignore', ...(ctx.user !== undefined ? { uid: ctx.user.uid, gid: ctx.user.gid } : {}) })
    let result: ProbeResult | undefined
    const killGroup = (): void => { if (child.pid !== undefined) { try { signalGroup(child.pid, 'SIGKILL') } catch {} } }
    const cancel = setTimer(ctx.clock, ctx.timeoutMs, () => {
      result = timedOut(ctx.timeoutMs)
      killGroup()
    })
    child.once('error', err => {
      cancel()
      resolve(result ?? { ok: false, detail: errText(err) })
    })
    child.once('exit', (code, signal) => {
      cancel()
      killGroup()
      resolve(result ?? (code === 0 ? { ok: true, detail: 'exit 0' } : { ok: false, detail: signal !== null ? `killed by ${signal}` : `exit ${String(code)}` }))
    })
  })
}

async function httpProbe (url: string, ctx: ProbeContext): Promise<ProbeResult> {
  const ac = new AbortController()
  const cancel = setTimer(ctx.clock, ctx.timeoutMs, () => { ac.abort() })
  try {
    const res = await fetch(url, { signal: ac.signal, redirect: 'manual' })
    await res.body?.cancel()
    return { ok: res.status >= 200 && res.status < 400, detail: `HTTP ${res.status}` }
  } catch (err) {
    return ac.signal.aborted ? timedOut(ctx.timeoutMs) : { ok: false, detail: errText(err) }
  } finally {
    cancel()
  }
}

async function tcpProbe (host: string, port: number, ctx: ProbeContext): Promise<ProbeResult> {
  return await new Promise<ProbeResult>(resolve => {
    const socket = connect({ host, port })
    const done = (r: ProbeResult): void => {
      cancel()
      socket.destroy()
      resolve(r)
    }
    const cancel = setTimer(ctx.clock, ctx.timeoutMs, () => { done(timedOut(ctx.timeoutMs)) })
    socket.once('connect', () => { done({ ok: true, detail: `connected to ${host}:${port}` }) })
    socket.once('error', err => { done({ ok: false, detail: errText(err) }) })
  })
}
