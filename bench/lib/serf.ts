/**
 * Serf agents side by side with mycel (Debian's `serf`, memberlist LAN
 * defaults) so membership numbers come with a reference measured in the same
 * run on the same machine: start a cluster through one join address, wait
 * for every agent to see every other alive, wait for a killed one to be
 * failed at every survivor.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort, waitFor } from '../../harness/agent-process.js'
import { startInBatches } from './batches.js'

const run = promisify(execFile)

/** How often the cluster helpers ask every agent for its view, ms (each ask is a `serf members` process). */
const POLL_MS = 250

export interface SerfAgent { name: string, bind: number, rpc: number, child: ChildProcess }

/**
 * Every Serf agent this process started and that has not exited: SIGKILLed
 * when the process exits, whatever path it took (as harness/agent-process.ts
 * does for mycel agents), so a failed or interrupted run leaves none behind.
 */
const running = new Set<ChildProcess>()
process.once('exit', () => { for (const c of running) c.kill('SIGKILL') })

export async function serfAvailable (): Promise<boolean> {
  try { await run('serf', ['version']); return true } catch { return false }
}

async function startSerf (name: string, join?: number): Promise<SerfAgent> {
  const bind = await freePort()
  const rpc = await freePort()
  const args = ['agent', '-node', name, '-bind', `127.0.0.1:${bind}`, '-rpc-addr', `127.0.0.1:${rpc}`, '-log-level', 'err']
  if (join !== undefined) args.push('-retry-join', `127.0.0.1:${join}`, '-retry-interval', '1s')
  const child = spawn('serf', args, { stdio: 'ignore' })
  running.add(child)
  child.once('exit', () => running.delete(child))
  return { name, bind, rpc, child }
}

/** Members as `serf members -format json` reports them, or undefined while the RPC is not up. */
async function serfMembers (a: SerfAgent): Promise<Array<{ name: string, status: string }> | undefined> {
  try {
    const { stdout } = await run('serf', ['members', '-rpc-addr', `127.0.0.1:${a.rpc}`, '-format', 'json'], { timeout: 5000 })
    return (JSON.parse(stdout) as { members: Array<{ name: string, status: string }> }).members
  } catch {
    return undefined
  }
}

export function stopSerf (agents: SerfAgent[]): void {
  for (const a of agents) a.child.kill('SIGKILL')
}

/**
 * `n` agents joining through the first; each counts as started once its RPC
 * answers (as a mycel agent once it serves its API), so `lastStarted` means
 * the same for both. Agents are pushed to `into` as they are spawned, so the
 * caller can stop them all even when a start fails.
 */
export async function startSerfCluster (n: number, into: SerfAgent[], batch: number): Promise<{ firstSpawn: number, lastStarted: number }> {
  const firstSpawn = Date.now()
  const first = await startSerfUp('serf-0', into)
  await startInBatches(n - 1, batch, async i => await startSerfUp(`serf-${i + 1}`, into, first.bind))
  return { firstSpawn, lastStarted: Date.now() }
}

/** Start attempts per agent: a port `freePort` found free can be taken before Serf binds it (TCP and UDP). */
const START_TRIES = 3
/** How often a starting agent's RPC is asked, ms: each ask is a process, and a batch asks at once. */
const START_POLL_MS = 100

/**
 * One agent, started once its RPC answers. An agent that exits first (its
 * ports taken meanwhile) is started again on fresh ports, instead of its RPC
 * being waited for until the timeout (a cost run once failed so, at load 19).
 */
async function startSerfUp (name: string, into: SerfAgent[], join?: number): Promise<SerfAgent> {
  for (let attempt = 1; ; attempt++) {
    const a = await startSerf(name, join)
    into.push(a)
    const exited = (): boolean => a.child.exitCode !== null || a.child.signalCode !== null
    const up = await waitFor(async () => exited() ? 'exited' : (await serfMembers(a)) !== undefined ? 'up' : undefined, 30_000, `serf agent ${name} RPC`, START_POLL_MS)
    if (up === 'up') return a
    if (attempt === START_TRIES) throw new Error(`serf agent ${name} exited before its RPC answered, ${attempt} times`)
    // Gone: the cluster's list must hold only agents that can answer (all-alive waits ask each one).
    into.splice(into.indexOf(a), 1)
  }
}

/** Wait until every agent lists `n` members alive. */
export async function waitSerfAllAlive (agents: SerfAgent[], n: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const views = await Promise.all(agents.map(serfMembers))
    return views.every(v => v !== undefined && v.filter(m => m.status === 'alive').length === n)
  }, timeoutMs, `${agents.length} serf agents to see ${n} alive`, POLL_MS)
}

/** Wait until every survivor lists `victim` as failed. */
export async function waitSerfFailedEverywhere (victim: SerfAgent, survivors: SerfAgent[], timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    const views = await Promise.all(survivors.map(serfMembers))
    return views.every(v => v?.some(m => m.name === victim.name && m.status === 'failed'))
  }, timeoutMs, `serf survivors to mark ${victim.name} failed`, POLL_MS)
}
