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
  const up = async (a: SerfAgent): Promise<SerfAgent> => {
    await waitFor(async () => await serfMembers(a), 30_000, `serf agent ${a.name} RPC`, 50)
    return a
  }
  const first = await startSerf('serf-0')
  into.push(first)
  await up(first)
  await startInBatches(n - 1, batch, async i => {
    const a = await startSerf(`serf-${i + 1}`, first.bind)
    into.push(a)
    return await up(a)
  })
  return { firstSpawn, lastStarted: Date.now() }
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
