/**
 * A cluster of real `mycel agent` processes for the membership and cost
 * benchmarks: started through one bootstrap peer a batch at a time, then
 * watched through each agent's admin API (`GET /v1/members`) until every
 * agent sees every other alive, or until every survivor lists a killed one
 * dead.
 */
import { AgentProcess, waitFor, type AgentOptions } from '../../harness/agent-process.js'
import { startInBatches } from './batches.js'

/** How often the watchers ask every agent for its view, ms. */
const POLL_MS = 200

/**
 * Start `n` agents: agent 0 first (the bootstrap peer), then the rest with
 * its address, `batch` at a time. `optionsOf(i)` gives agent i's options
 * (the bootstrap address is added). Agents are pushed to `into` as they
 * start, so the caller can stop every one of them even when a start fails.
 * `lastStarted` is when the last agent served its API.
 */
export async function startMycelCluster (n: number, into: AgentProcess[], batch: number, optionsOf: (i: number) => AgentOptions): Promise<{ firstSpawn: number, lastStarted: number }> {
  const firstSpawn = Date.now()
  const boot = await AgentProcess.start(optionsOf(0))
  into.push(boot)
  await startInBatches(n - 1, batch, async i => {
    const opts = optionsOf(i + 1)
    const a = await AgentProcess.start({ ...opts, bootstrap: [boot.addr, ...(opts.bootstrap ?? [])] })
    into.push(a)
    return a
  })
  return { firstSpawn, lastStarted: Date.now() }
}

/** Members each agent sees alive; -1 where its API does not answer. */
async function aliveCounts (agents: AgentProcess[]): Promise<number[]> {
  return await Promise.all(agents.map(async a => {
    try { return (await a.members()).filter(m => m.state === 'alive').length } catch { return -1 }
  }))
}

/**
 * Wait until every agent sees `n` members alive. On a timeout the error
 * says what each agent saw last, so a join that fails says how far it got.
 */
export async function waitAllAlive (agents: AgentProcess[], n: number, timeoutMs: number): Promise<void> {
  let last: number[] = []
  try {
    await waitFor(async () => { last = await aliveCounts(agents); return last.every(c => c === n) }, timeoutMs, `${agents.length} agents to see ${n} alive`, POLL_MS)
  } catch (err) {
    throw new Error(`${(err as Error).message} (alive seen by each agent at the end: ${last.join(' ')})`)
  }
}

/**
 * Wait until every survivor lists `victim` dead. Returns how many times a
 * survivor's view listed some other member dead meanwhile (a false
 * positive, counted once per view that showed one).
 */
export async function waitDeadEverywhere (victim: AgentProcess, survivors: AgentProcess[], timeoutMs: number): Promise<{ falsePositiveObservations: number }> {
  let falsePositiveObservations = 0
  await waitFor(async () => {
    const views = await Promise.all(survivors.map(async s => await s.members().catch(() => [])))
    for (const v of views) {
      if (v.some(m => m.peerId !== victim.peerId && m.state === 'dead')) falsePositiveObservations++
    }
    return views.every(v => v.some(m => m.peerId === victim.peerId && m.state === 'dead'))
  }, timeoutMs, `survivors to mark ${victim.peerId} dead`, POLL_MS)
  return { falsePositiveObservations }
}
