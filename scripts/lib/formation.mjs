// Forming a network one agent at a time, for the experiment scripts (paced-formation.mjs, joiner-cost.mjs).
import { AgentProcess, waitFor } from '../../dist/harness/agent-process.js'

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Starts `n` agents from `cli` (lan profile, loopback), each `gapMs` after the one before wrote agent.json and
 * bootstrapping through one of the first three, pushing each into `agents` as it starts (so a caller's cleanup
 * reaches every agent started, even after a failure); `onStarted(count)` after each start.
 */
export async function formPaced (cli, n, gapMs, agents, onStarted = () => {}) {
  const o = { cli, profile: 'lan', logLevel: 'warn' }
  agents.push(await AgentProcess.start(o))
  onStarted(agents.length)
  for (let i = 1; i < n; i++) {
    await sleep(gapMs)
    agents.push(await AgentProcess.start({ ...o, bootstrap: [agents[i % Math.min(3, agents.length)].addr] }))
    onStarted(agents.length)
  }
  return o
}

/** Until every agent's /v1/status counts `n` members alive. */
export async function waitAllAlive (agents, n, timeoutMs = 600_000) {
  await waitFor(async () => (await Promise.all(agents.map(a => a.get('/v1/status').then(s => s.members.alive, () => 0)))).every(c => c === n), timeoutMs, `all ${n} alive`)
}

export { sleep, AgentProcess }
