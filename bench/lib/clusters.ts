/**
 * mycel and Serf clusters behind one shape, so the cost benchmark measures
 * both with the same code: start N through one bootstrap peer, wait until
 * all see all alive, SIGKILL one, wait until every survivor lists it dead,
 * stop everything. Each cluster owns its processes and temp dirs from the
 * moment it exists, so `stop()` (which the caller runs in `finally` and on
 * Ctrl-C) leaves nothing behind even when the start failed half-way.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AgentOptions, AgentProcess } from '../../harness/agent-process.js'
import { startMycelCluster, waitAllAlive, waitDeadEverywhere } from './mycel-cluster.js'
import { startSerfCluster, stopSerf, waitSerfAllAlive, waitSerfFailedEverywhere, type SerfAgent } from './serf.js'
import { writeBenchGenesis } from './genesis.js'

export interface Cluster {
  readonly system: string
  readonly n: number
  /** Start all `n`; `lastStarted` is when the last one answered (API or RPC). */
  start: () => Promise<{ firstSpawn: number, lastStarted: number }>
  /** Pids of the agent processes started so far, in start order. */
  pids: () => number[]
  waitAllAlive: (timeoutMs: number) => Promise<void>
  /** SIGKILL agent `i` and wait until it is gone. */
  kill: (i: number) => Promise<void>
  /** Wait until every agent in `survivors` lists agent `i` dead (Serf: failed). */
  waitDead: (i: number, survivors: number[], timeoutMs: number) => Promise<void>
  /** Views that listed another member dead while waitDead waited (mycel only; Serf's CLI view is not polled for it). */
  falsePositiveObservations: () => number | undefined
  /** Kill every process, remove every temp dir; safe to call twice. */
  stop: () => Promise<void>
}

export interface MycelClusterOptions {
  /** Timer profile, as `mycel agent --profile` (the default, `lan`, is a user's). */
  profile: NonNullable<AgentOptions['profile']>
  logLevel: string
  /** Validators of a genesis every agent gets (agents 0 … validators−1); 0 runs without a genesis. */
  validators: number
  /** Agents started at once after the bootstrap peer. */
  batch: number
}

/**
 * Temp roots of mycel clusters not stopped yet: removed when the process
 * exits however it does (the harness kills the agents in its own exit hook,
 * registered first, so it runs first).
 */
const roots = new Set<string>()
process.once('exit', () => { for (const r of roots) rmSync(r, { recursive: true, force: true, maxRetries: 3 }) })

export function mycelCluster (n: number, opts: MycelClusterOptions): Cluster {
  const agents: AgentProcess[] = []
  let root: string | undefined
  let falsePositives = 0
  return {
    system: 'mycel',
    n,
    async start () {
      root = await mkdtemp(join(tmpdir(), 'mycel-bench-cost-'))
      roots.add(root)
      const dirOf = (i: number): string => join(root!, `a${i}`)
      const genesis = opts.validators > 0 ? await writeBenchGenesis(root, opts.validators, dirOf) : undefined
      const extraArgs = genesis !== undefined ? ['--genesis', genesis.file] : []
      // Data dirs under one root, so stop() removes them all with it.
      for (let i = opts.validators; i < n; i++) await mkdir(dirOf(i), { recursive: true, mode: 0o700 })
      return await startMycelCluster(n, agents, opts.batch, i => ({ profile: opts.profile, logLevel: opts.logLevel, dataDir: dirOf(i), extraArgs }))
    },
    pids: () => agents.map(a => a.child?.pid ?? 0),
    async waitAllAlive (timeoutMs) { await waitAllAlive(agents, n, timeoutMs) },
    async kill (i) { await agents[i].kill('SIGKILL') },
    async waitDead (i, survivors, timeoutMs) {
      falsePositives += (await waitDeadEverywhere(agents[i], survivors.map(j => agents[j]), timeoutMs)).falsePositiveObservations
    },
    falsePositiveObservations: () => falsePositives,
    async stop () {
      await Promise.all(agents.map(async a => { await a.kill('SIGKILL') }))
      if (root === undefined) return
      await rm(root, { recursive: true, force: true, maxRetries: 3 })
      roots.delete(root)
    }
  }
}

export function serfCluster (n: number, batch: number): Cluster {
  const agents: SerfAgent[] = []
  return {
    system: 'serf',
    n,
    async start () { return await startSerfCluster(n, agents, batch) },
    pids: () => agents.map(a => a.child.pid ?? 0),
    async waitAllAlive (timeoutMs) { await waitSerfAllAlive(agents, n, timeoutMs) },
    async kill (i) {
      const c = agents[i].child
      if (c.exitCode !== null || c.signalCode !== null) return
      await new Promise(resolve => { c.once('exit', resolve); c.kill('SIGKILL') })
    },
    async waitDead (i, survivors, timeoutMs) { await waitSerfFailedEverywhere(agents[i], survivors.map(j => agents[j]), timeoutMs) },
    falsePositiveObservations: () => undefined,
    async stop () { stopSerf(agents) }
  }
}
