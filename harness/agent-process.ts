/**
 * Real `mycel agent` processes for integration tests: spawned from the built
 * CLI (dist/daemon/cli.js), each with its own data dir and fixed TCP port
 * (kept across restarts, so peers can redial it), API on a free port. With
 * `launcher`, the agent runs under the core update launcher
 * (dist/launcher/main.js) as deploy/mycel.service runs it: `child` is then
 * the launcher and `agentPid` its agent, which a core switch replaces.
 * With `apiAuth: 'token'` the agent requires its admin API token
 * (`<dataDir>/api.token`); `get` and `request` send it, and `tokenFile` is
 * the file to give the CLI (`--token-file`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { existsSync, readFileSync } from 'node:fs'
import { nodeCommand } from './node-command.js'
import { ADDRESS_IN_USE } from '../daemon/cli/startup-error.js'

export const CLI = resolve('dist/daemon/cli.js')
export const LAUNCHER = resolve('dist/launcher/main.js')
/** Generous: 2 cores starting many Node processes at once are slow. */
const START_TIMEOUT_MS = Number(process.env.MYCEL_TEST_START_TIMEOUT_MS ?? 60_000)

/**
 * Every agent this process spawned and that has not exited. On exit (a
 * finished run, a crashed benchmark, a test runner quitting) they are
 * SIGKILLed, so no run leaves agents behind, whatever path it took.
 */
const running = new Set<ChildProcess>()
/** Agents started by a launcher this process spawned: not our children, so killed by pid. */
const launched = new Set<number>()
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL')
  for (const pid of launched) try { process.kill(pid, 'SIGKILL') } catch {}
})

export interface AgentOptions {
  /** The `mycel` CLI to run: this checkout's build unless given (scripts compare builds). */
  cli?: string
  region?: string
  bootstrap?: string[]
  extraArgs?: string[]
  dataDir?: string
  port?: number
  profile?: 'lan' | 'wan' | 'test'
  logLevel?: string
  env?: Record<string, string>
  /** Extra node flags, e.g. --cpu-prof (after the bin's own, harness/node-command.ts). */
  nodeArgs?: string[]
  /** Run the agent under the core update launcher, as deploy/mycel.service does. */
  launcher?: boolean
  /** `--api-auth`: with `token`, every admin API call but the probes needs the data dir's token. */
  apiAuth?: 'none' | 'token'
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export class AgentProcess {
  /** The agent, or with `launcher` the launcher. */
  child?: ChildProcess
  /** The agent's pid (the launcher's child, with `launcher`). */
  agentPid = 0
  peerId = ''
  api = ''
  /** Listen multiaddr with /p2p/ suffix, usable as a bootstrap address. */
  addr = ''
  stderr = ''
  exitCode: number | null = null
  /** The admin API token, with `apiAuth: 'token'` (read once the agent started). */
  token?: string
  private exited?: Promise<number | null>

  private constructor (readonly dataDir: string, readonly port: number, readonly opts: AgentOptions) {}

  static async start (opts: AgentOptions = {}): Promise<AgentProcess> {
    const cli = opts.cli ?? CLI
    if (!existsSync(cli)) throw new Error(`${cli} missing: run \`npm run build\` (npm test builds first)`)
    const dataDir = opts.dataDir ?? await mkdtemp(join(tmpdir(), 'mycel-test-'))
    // freePort() only finds a port free now: another process may bind it
    // before the agent does. A port we picked is picked again then (a port
    // the caller chose is the caller's to fix).
    for (let attempt = 1; ; attempt++) {
      const a = new AgentProcess(dataDir, opts.port ?? await freePort(), opts)
      try {
        await a.spawn()
        return a
      } catch (err) {
        if (opts.port !== undefined || attempt >= 3 || !(err as Error).message.includes(ADDRESS_IN_USE)) throw err
      }
    }
  }

  async spawn (moreArgs: string[] = []): Promise<void> {
    const launcher = this.opts.launcher === true
    const args = [...(launcher ? [] : ['agent']), '--data-dir', this.dataDir,
      '--listen', `/ip4/127.0.0.1/tcp/${this.port}`,
      '--api', '127.0.0.1:0',
      '--profile', this.opts.profile ?? 'test',
      '--log-level', this.opts.logLevel ?? 'info',
      '--region', this.opts.region ?? 'default',
      ...(this.opts.apiAuth !== undefined ? ['--api-auth', this.opts.apiAuth] : []),
      ...(this.opts.bootstrap ?? []).flatMap(b => ['--bootstrap', b]),
      ...(this.opts.extraArgs ?? []), ...moreArgs]
    this.stderr = ''
    this.exitCode = null
    // Through nodeCommand: the node flags of the bin's #! line, as its user gets them.
    const cmd = nodeCommand(launcher ? LAUNCHER : this.opts.cli ?? CLI, args, this.opts.nodeArgs)
    const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...cmd.env, ...this.opts.env } })
    this.child = child
    running.add(child)
    this.exited = new Promise(resolve => child.once('exit', (code, sig) => { running.delete(child); this.exitCode = code ?? (sig !== null ? 128 : null); resolve(this.exitCode) }))
    child.stdout?.resume()
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-200_000) })
    try {
      await this.awaitAgent(START_TIMEOUT_MS)
    } catch (err) {
      // A start that times out must not leave an orphan agent behind.
      await this.kill('SIGKILL')
      throw err
    }
  }

  /**
   * Wait until <dataDir>/agent.json names an agent of this process other
   * than `notPid` (the agent writes it once it serves; the pid tells this
   * start from a previous one; works at any --log-level), and take its API
   * address. Under the launcher, also after a core switch: the new agent.
   */
  async awaitAgent (timeoutMs: number, notPid?: number): Promise<void> {
    const child = this.child!
    const deadline = Date.now() + timeoutMs
    while (true) {
      if (this.exitCode !== null) throw new Error(`agent exited with ${this.exitCode} before starting:\n${this.stderr.slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`agent did not start within ${timeoutMs / 1000} s:\n${this.stderr.slice(-3000)}`)
      try {
        const j = JSON.parse(await readFile(join(this.dataDir, 'agent.json'), 'utf8')) as { pid: number, peerId: string, api: string, addrs: string[] }
        const ours = this.opts.launcher === true ? parentOf(j.pid) === child.pid : j.pid === child.pid
        if (ours && j.pid !== notPid) {
          this.agentPid = j.pid
          if (this.opts.launcher === true) launched.add(j.pid)
          this.peerId = j.peerId
          this.api = j.api
          this.addr = j.addrs.find(x => x.includes(`/tcp/${this.port}`)) ?? j.addrs[0]
          // Made (or read) before the agent serves, so it is there once agent.json names this agent.
          if (this.opts.apiAuth === 'token') this.token = (await readFile(this.tokenFile, 'utf8')).trim()
          return
        }
      } catch { /* not written yet, or mid-write */ }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** The agent's admin API token file (exists with `apiAuth: 'token'`). */
  get tokenFile (): string { return join(this.dataDir, 'api.token') }

  /** The Authorization header of this agent's API calls, if it needs one. */
  private authHeader (): Record<string, string> {
    return this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}
  }

  async get<T = any> (path: string): Promise<T> {
    const res = await fetch(`http://${this.api}${path}`, { headers: this.authHeader(), signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text}`)
    return JSON.parse(text) as T
  }

  async request (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> {
    const res = await fetch(`http://${this.api}${path}`, {
      method,
      headers: { ...this.authHeader(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000)
    })
    const text = await res.text()
    return { status: res.status, json: text.length > 0 ? JSON.parse(text) : undefined }
  }

  /** Peer ids by state in this agent's view. */
  async members (): Promise<Array<{ peerId: string, state: string, region: string, incarnation: number }>> {
    return await this.get('/v1/members')
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    // A SIGKILLed launcher cannot pass anything on: its agent goes too (a whole unit killed).
    if (this.opts.launcher === true && signal === 'SIGKILL') killAgent(this.agentPid)
    if (this.child === undefined || this.exitCode !== null) return this.exitCode
    this.child.kill(signal)
    return await this.exited!
  }

  /** Graceful stop (SIGTERM), waiting for exit. */
  async stop (): Promise<number | null> {
    if (this.child === undefined || this.exitCode !== null) return this.exitCode
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 15_000)
    const code = await this.exited!
    clearTimeout(t)
    return code
  }

  async cleanup (): Promise<void> {
    await this.kill('SIGKILL')
    if (this.opts.dataDir === undefined) await rm(this.dataDir, { recursive: true, force: true })
  }
}

/** The parent pid of `pid` (Linux /proc), or undefined when it is gone. */
function parentOf (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

function killAgent (pid: number): void {
  if (pid === 0) return
  try { process.kill(pid, 'SIGKILL') } catch {}
  launched.delete(pid)
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes; returns that value. */
export async function waitFor<T> (fn: () => Promise<T> | T, timeoutMs: number, what = 'condition', intervalMs = 100): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs
  let lastErr: unknown
  while (Date.now() < deadline) {
    try {
      const v = await fn()
      if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>
    } catch (err) { lastErr = err }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr !== undefined ? `: ${(lastErr as Error).message}` : ''}`)
}

/** Start `n` agents; the first is the bootstrap peer of the rest. */
export async function startCluster (n: number, opts: AgentOptions = {}): Promise<AgentProcess[]> {
  const first = await AgentProcess.start(opts)
  const settled = await Promise.allSettled(Array.from({ length: n - 1 }, async () => await AgentProcess.start({ ...opts, bootstrap: [first.addr, ...(opts.bootstrap ?? [])] })))
  const rest = settled.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) {
    // One agent failed to start: stop the ones that did, leave nothing behind.
    await Promise.all([first, ...rest].map(async a => { await a.cleanup() }))
    throw failed.reason
  }
  return [first, ...rest]
}
