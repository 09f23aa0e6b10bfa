/**
 * Issue 14 with real agent processes and the real CLI: a component rolled
 * from 1.0.0 to 2.0.0 across four agents in waves, the number of nodes not
 * running-and-passing checked continuously (never above max-unavailable);
 * the update manager's holder SIGKILLed mid-rollout, its successor
 * finishing it with every node switching exactly once; the deployment then
 * says 2.0.0. A version whose health check fails, rolled back
 * automatically, runs through real agents in the testground case
 * (test/integration/testground-rollout.test.ts: its timelines show every
 * touched node back on 2.0.0 and max-unavailable held) and on the
 * simulated region of test/managers/rollout/driver.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, startCluster, waitFor } from '../../harness/agent-process.js'
import { cli } from '../helpers/cli-process.js'

interface Entry { node: string, name: string, version: string, state: string, pid: number | null, health: string, stale?: boolean }
interface RolloutStatus { id: string, state: string, waves: Array<{ nodes: string[], state: string }> }

async function status (a: AgentProcess): Promise<Entry[]> {
  const r = await cli('component', 'status', 'web', '--json', '--api', a.api)
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Entry[]
}

async function rollout (a: AgentProcess, id: string): Promise<RolloutStatus> {
  const r = await cli('rollout', 'status', id, '--json', '--api', a.api)
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as RolloutStatus
}

/** The agent acting as its region's update manager now, if any. */
async function updateHolder (agents: AgentProcess[]): Promise<AgentProcess | undefined> {
  for (const a of agents.filter(x => x.exitCode === null)) {
    const v = (await a.request('GET', '/v1/roles')).json as { local: Array<{ role: string, acting: boolean }> }
    if (v.local.some(l => l.role === 'update' && l.acting)) return a
  }
  return undefined
}

describe('rollouts across four real agents', function () {
  this.timeout(300_000)
  let dir: string
  let agents: AgentProcess[] = []
  const pids = new Set<number>()

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-rollout-it-')) })

  after(async () => {
    const a = agents.find(x => x.exitCode === null)
    if (a !== undefined) await cli('component', 'undeploy', 'web', '--api', a.api).catch(() => undefined)
    await Promise.all(agents.map(async x => { await x.cleanup() }))
    for (const pid of pids) try { process.kill(-pid, 'SIGKILL') } catch {}
    await rm(dir, { recursive: true, force: true })
  })

  it('v1 → v2 in waves within max-unavailable, surviving the update manager\'s SIGKILL; the deployment then says 2.0.0', async () => {
    const key = join(dir, 'publisher.key')
    const keygen = await cli('publisher', 'keygen', '--out', key)
    assert.equal(keygen.code, 0, keygen.stderr)
    const app = join(dir, 'web')
    await mkdir(app)
    await writeFile(join(app, 'run.sh'), 'exec sleep 100000\n')
    const release = async (version: string, check: string): Promise<void> => {
      await writeFile(join(app, 'check.sh'), check)
      await writeFile(join(app, 'mycel.component.yaml'), [
        'name: web', `version: ${version}`, 'entry: ["/bin/sh", "run.sh"]',
        'health:', '  exec: ["/bin/sh", "check.sh"]', '  interval: 1s', '  timeout: 500ms', '  failureThreshold: 3', ''
      ].join('\n'))
      const pub = await cli('component', 'publish', app, '--key', key, '--api', agents[0].api)
      assert.equal(pub.code, 0, pub.stderr)
    }

    agents = await startCluster(4, { extraArgs: ['--publisher', keygen.stdout.trim()] })
    await waitFor(async () => (await agents[0].members()).filter(m => m.state === 'alive').length === 4, 30_000, 'four alive members')
    await release('1.0.0', 'exit 0\n')
    await release('2.0.0', 'exit 0\n')
    assert.equal((await cli('component', 'deploy', 'web@1.0.0', '--api', agents[0].api)).code, 0)
    const running = (s: Entry[], version: string): boolean => s.length === 4 && s.every(e => e.version === version && e.state === 'running' && e.health === 'passing')
    const first = await waitFor(async () => { const s = await status(agents[1]); return running(s, '1.0.0') ? s : undefined }, 90_000, 'web 1.0.0 running on all four')
    for (const e of first) pids.add(e.pid!)

    // v1 → v2: canary 1, then waves of 1, at most one node down at a time.
    const start = await cli('rollout', 'start', 'web@2.0.0', '--canary', '1', '--max-parallel', '1', '--min-healthy-time', '2s',
      '--healthy-deadline', '60s', '--progress-deadline', '120s', '--max-unavailable', '1', '--api', agents[0].api)
    assert.equal(start.code, 0, start.stderr)
    const id = start.stdout.trim()
    const seen = new Map<string, string[]>(first.map(e => [e.node, [e.version]]))
    let worst = 0
    let killed: AgentProcess | undefined
    await waitFor(async () => {
      const watcher = agents.find(a => a.exitCode === null)!
      const s = (await status(watcher)).filter(e => e.stale !== true)
      for (const e of s) {
        pids.add(e.pid!)
        const versions = seen.get(e.node) ?? []
        if (versions[versions.length - 1] !== e.version) versions.push(e.version)
        seen.set(e.node, versions)
      }
      // Every node still runs web (agent SIGKILL leaves components running); count those not running-and-passing.
      worst = Math.max(worst, s.filter(e => !(e.state === 'running' && e.health === 'passing')).length)
      const r = await rollout(watcher, id)
      // Once the canary wave passed, SIGKILL the update manager, and bring the node back soon after.
      if (killed === undefined && r.waves[0]?.state === 'passed') {
        killed = await updateHolder(agents)
        if (killed !== undefined) { await killed.kill('SIGKILL'); await killed.spawn() }
      }
      return r.state === 'succeeded' && running(s, '2.0.0')
    }, 180_000, 'rollout to 2.0.0 succeeded', 300)
    assert.ok(killed !== undefined, 'the update manager was killed mid-rollout')
    assert.ok(worst <= 1, `at most one node down at once (saw ${worst})`)
    for (const [node, versions] of seen) assert.deepEqual(versions, ['1.0.0', '2.0.0'], `${node} switched exactly once`)
    // The last region's holder writes `to` into the deployment a round after the rollout reads `succeeded`, and the
    // write then travels (docs/rollouts.md, "The record"): poll for it, as any reader must (CI read 1.0.0 once).
    let dep = { stdout: '' }
    await waitFor(async () => {
      dep = await cli('component', 'deployments', 'web', '--json', '--api', agents[3].api)
      return /"version": ?"2\.0\.0"/.test(dep.stdout)
    }, 30_000, 'the deployment says 2.0.0', 250).catch(() => {})
    assert.match(dep.stdout, /"version": ?"2\.0\.0"/)
  })
})
