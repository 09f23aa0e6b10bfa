/**
 * Runs one declared argv: no shell (spawn with the argv as given, so a
 * parameter is always exactly one argument), in its own process group so a
 * timeout kills everything it started, with stdout and stderr kept up to a
 * byte bound while streaming (memory stays bounded whatever the process
 * writes; the rest is dropped and a marker says how much).
 */
import { spawn } from 'node:child_process'

export interface RunResult {
  /** null when killed by a signal (a timeout) or when it could not start. */
  exitCode: number | null
  output: string
  /** Why it did not end normally: a timeout, a spawn failure. */
  error?: string
}

export interface RunOptions {
  timeoutMs: number
  maxOutputBytes: number
  signal?: AbortSignal
  env?: Record<string, string>
}

/** Appended when output went over the bound. */
export const truncationMarker = (dropped: number): string => `\n[mycel: output truncated, ${dropped} more bytes dropped]\n`

/** Collects up to `max` bytes of chunks; counts the rest. */
export class BoundedOutput {
  private readonly chunks: Buffer[] = []
  private kept = 0
  dropped = 0

  constructor (private readonly max: number) {}

  push (chunk: Buffer): void {
    const room = this.max - this.kept
    if (room <= 0) { this.dropped += chunk.byteLength; return }
    const part = chunk.byteLength <= room ? chunk : chunk.subarray(0, room)
    this.chunks.push(part)
    this.kept += part.byteLength
    this.dropped += chunk.byteLength - part.byteLength
  }

  text (): string {
    const body = Buffer.concat(this.chunks).toString('utf8')
    return this.dropped > 0 ? body + truncationMarker(this.dropped) : body
  }
}

export async function runArgv (argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const out = new BoundedOutput(opts.maxOutputBytes)
  return await new Promise<RunResult>((resolve) => {
    let settled = false
    let timedOut = false
    const child = spawn(argv[0] as string, argv.slice(1), {
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' }
    })
    const killGroup = (): void => {
      if (child.pid === undefined) return
      try { process.kill(-child.pid, 'SIGKILL') } catch { /* already gone */ }
    }
    const timer = setTimeout(() => { timedOut = true; killGroup() }, opts.timeoutMs)
    const onAbort = (): void => { killGroup() }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const finish = (r: RunResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    child.stdout.on('data', (c: Buffer) => { out.push(c) })
    child.stderr.on('data', (c: Buffer) => { out.push(c) })
    child.on('error', (err) => { finish({ exitCode: null, output: out.text(), error: `cannot run ${argv[0] ?? ''}: ${err.message}` }) })
    child.on('close', (code, sig) => {
      if (timedOut) finish({ exitCode: null, output: out.text(), error: `timed out after ${opts.timeoutMs} ms (process group killed)` })
      else if (code === null) finish({ exitCode: null, output: out.text(), error: `killed by ${sig ?? 'a signal'}` })
      else finish({ exitCode: code, output: out.text() })
    })
  })
}
