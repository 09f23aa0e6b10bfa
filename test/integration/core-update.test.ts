/**
 * Issue 14 point 5 with real processes: two agents under the launcher (as
 * deploy/mycel.service runs them), the core deployed as `mycel@<base>`. A
 * core build with a bumped version (`mycel core pack`) is published and
 * rolled out (`mycel rollout start mycel@<bumped>`, one node per wave):
 * both agents switch (a new agent pid, /v1/status shows the bumped version,
 * the health reports show `mycel` running and passing) and the rollout
 * succeeds, while a plain component started before keeps its pid. Then a
 * rollout to a build whose CLI exits at once: the first wave's launcher
 * tries it twice and returns to the bumped build on its own, the node
 * reports `mycel` failed for that version, the gate fails, the rollout is
 * rolled back, and the other node is never touched.
 * Last, a stop as systemd sends it (both processes signalled) is graceful.
 * (A build that never becomes ready is covered with fake builds in
 * test/launcher/run.test.ts: its deadline would cost a minute here.)
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import semver from 'semver'
import { AgentProcess, startCluster, waitFor } from '../../harness/agent-process.js'
import { alive, cli, ok } from '../helpers/cli-process.js'
import { coreStatePath } from '../../launcher/contract.js'
import { readState } from '../../launcher/state-file.js'

interface Entry { node: string, name: string, version: string, state: string, pid: number | null, health: string, reason?: string, stale?: boolean }

async function status (a: AgentProcess, name: string): Promise<Entry[]> {
  return JSON.parse(await ok('component', 'status', name, '--json', '--api', a.api)) as Entry[]
}

interface RolloutView { state: string, failure?: { reason: string }, waves: Array<{ nodes: string[], state: string }> }

async function rollout (a: AgentProcess, id: string): Promise<RolloutView> {
  return JSON.parse(await ok('rollout', 'status', id, '--json', '--api', a.api)) as RolloutView
}

describe('core rollout through the launcher (two real agents)', function () {
  this.timeout(300_000)
  let dir: string
  let agents: AgentProcess[] = []
  const pids = new Set<number>()

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-core-it-')) })
  after(async () => {
    const a = agents.find(x => x.exitCode === null)
    if (a !== undefined) await cli('component', 'undeploy', 'probe', '--api', a.api).catch(() => undefined)
    await Promise.all(agents.map(async x => { await x.cleanup() }))
    for (const pid of pids) try { process.kill(-pid, 'SIGKILL') } catch {}
    await rm(dir, { recursive: true, force: true })
  })

  it('rolls both agents to a bumped build, keeps components running; a rollout to a build that cannot start is reverted by the launcher and rolled back', async () => {
    const base = (JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version
    const bumped = semver.inc(base, 'patch')!
    const broken = semver.inc(bumped, 'patch')!
    const key = join(dir, 'publisher.key')
    const publisher = (await ok('publisher', 'keygen', '--out', key)).trim()
    await ok('core', 'pack', '--out', join(dir, 'bumped'), '--build-version', bumped)
    await ok('core', 'pack', '--out', join(dir, 'broken'), '--build-version', broken)
    await writeFile(join(dir, 'broken', 'dist', 'daemon', 'cli.js'), 'process.exit(1)\n')
    const app = join(dir, 'probe')
    await mkdir(app)
    await writeFile(join(app, 'mycel.component.yaml'), 'name: probe\nversion: 1.0.0\nentry: ["/bin/sh", "run.sh"]\n')
    await writeFile(join(app, 'run.sh'), 'exec sleep 100000\n')

    agents = await startCluster(2, { launcher: true, extraArgs: ['--publisher', publisher] })
    await waitFor(async () => (await agents[0]!.members()).filter(m => m.state === 'alive').length === 2, 30_000, 'two alive members')
    await ok('component', 'publish', app, '--key', key, '--api', agents[0]!.api)
    await ok('component', 'deploy', 'probe@1.0.0', '--api', agents[0]!.api)
    const probes = await waitFor(async () => {
      const s = await status(agents[0]!, 'probe')
      return s.length === 2 && s.every(e => e.state === 'running' && alive(e.pid)) ? s : undefined
    }, 60_000, 'probe running on both')
    for (const e of probes) pids.add(e.pid!)

    // The core deployed at the version it runs: nothing changes.
    await ok('component', 'deploy', `mycel@${base}`, '--api', agents[0]!.api)
    await waitFor(async () => {
      const s = (await status(agents[0]!, 'mycel')).filter(e => e.stale !== true)
      return s.length === 2 && s.every(e => e.version === base && e.state === 'running' && e.health === 'passing')
    }, 60_000, `mycel@${base} reported on both`)

    // The bumped build, rolled out one node at a time: both agents switch to it.
    const before = agents.map(a => a.agentPid)
    await ok('component', 'publish', join(dir, 'bumped'), '--key', key, '--api', agents[0]!.api)
    const up = (await ok('rollout', 'start', `mycel@${bumped}`, '--max-parallel', '1', '--min-healthy-time', '2s', '--healthy-deadline', '90s', '--progress-deadline', '180s', '--api', agents[0]!.api)).trim()
    await Promise.all(agents.map(async (a, i) => { await a.awaitAgent(180_000, before[i]) }))
    for (const a of agents) {
      assert.ok(!alive(before[agents.indexOf(a)]), 'the old agent is gone')
      await waitFor(async () => (await a.get<{ version: string }>('/v1/status')).version === bumped, 60_000, `${a.peerId} on ${bumped}`)
    }
    await waitFor(async () => (await rollout(agents[1]!, up)).state === 'succeeded', 90_000, `rollout to ${bumped} succeeded`)
    const running = await waitFor(async () => {
      const s = (await status(agents[0]!, 'mycel')).filter(e => e.stale !== true)
      return s.length === 2 && s.every(e => e.version === bumped && e.state === 'running' && e.health === 'passing') ? s : undefined
    }, 60_000, `mycel@${bumped} running and passing on both`)
    assert.deepEqual(running.map(e => e.node).sort(), agents.map(a => a.peerId).sort())
    for (const a of agents) {
      const s = await waitFor(async () => { const x = await readState(coreStatePath(a.dataDir)); return x.good?.version === bumped ? x : undefined }, 30_000, 'the launcher confirmed the bumped build')
      assert.equal(s.trying, undefined)
    }
    // The plain component kept running across the switch, adopted by the new agents.
    const kept = await status(agents[1]!, 'probe')
    assert.deepEqual(kept.map(e => e.pid).sort(), probes.map(e => e.pid).sort())
    assert.ok(kept.every(e => e.state === 'running'))

    // The broken build: the first wave's launcher tries it, gives up and returns on its own; the gate fails, the
    // rollout is rolled back, and the other node is never touched.
    const onBumped = agents.map(a => a.agentPid)
    await ok('component', 'publish', join(dir, 'broken'), '--key', key, '--api', agents[0]!.api)
    const down = (await ok('rollout', 'start', `mycel@${broken}`, '--max-parallel', '1', '--min-healthy-time', '2s', '--healthy-deadline', '90s', '--progress-deadline', '180s', '--api', agents[0]!.api)).trim()
    // Asked of whichever agent answers: the first wave's agent is down while its launcher tries the build.
    const rolled = await waitFor(async () => {
      for (const a of agents) {
        const r = await rollout(a, down).catch(() => undefined)
        if (r !== undefined) return r.state === 'rolled-back' ? r : undefined
      }
      return undefined
    }, 180_000, `rollout to ${broken} rolled back`).catch((err: Error) => {
      // What the launchers and agents said, to tell a stuck launcher from a stuck rollout.
      const tails = agents.map(a => `--- ${a.peerId} exit ${String(a.exitCode)}\n${a.stderr.split('\n').filter(l => /launcher|rollout|core|fatal|error/i.test(l)).slice(-25).join('\n')}`)
      throw new Error(`${err.message}\n${tails.join('\n')}`)
    })
    assert.equal(rolled.failure?.reason, 'node-failed')
    const tried = agents.findIndex(a => a.peerId === rolled.waves[0]!.nodes[0])
    assert.ok(tried >= 0)
    const s = await readState(coreStatePath(agents[tried]!.dataDir))
    assert.equal(s.good?.version, bumped)
    assert.equal(s.trying, undefined)
    assert.deepEqual(s.bad.map(b => [b.version, b.attempts, b.reason, b.returnedTo]), [[broken, 2, 'exited with code 1 before it was ready', bumped]])
    const untouched = agents[1 - tried]!
    assert.deepEqual((await readState(coreStatePath(untouched.dataDir))).bad, [], 'the second wave never started')
    assert.equal(untouched.agentPid, onBumped[1 - tried])
    await agents[tried]!.awaitAgent(120_000, onBumped[tried])
    for (const a of agents) await waitFor(async () => (await a.get<{ version: string }>('/v1/status')).version === bumped, 60_000, `${a.peerId} on ${bumped}`)
    await waitFor(async () => {
      const st = (await status(agents[0]!, 'mycel')).filter(e => e.stale !== true)
      return st.length === 2 && st.every(e => e.version === bumped && e.state === 'running' && e.health === 'passing')
    }, 60_000, `mycel@${bumped} running and passing on both after the rollback`)
    // Not tried again: the same agents keep running, the state stays as it is.
    const settled = agents.map(a => a.agentPid)
    await new Promise(resolve => setTimeout(resolve, 2_000))
    for (const [i, a] of agents.entries()) {
      assert.ok(alive(settled[i]))
      const st = await readState(coreStatePath(a.dataDir))
      assert.equal(st.trying, undefined)
      assert.equal(JSON.parse(await readFile(join(a.dataDir, 'agent.json'), 'utf8')).pid, settled[i])
    }
    const still = await status(agents[0]!, 'probe')
    assert.deepEqual(still.map(e => e.pid).sort(), probes.map(e => e.pid).sort(), 'the component kept its pid through both switches')

    // A stop as systemd does it (KillMode=control-group): SIGTERM to the agent and to the launcher, which passes
    // its own on. The agent stops gracefully once (not "second signal: exiting now", 130); the launcher exits 0.
    process.kill(agents[0]!.agentPid, 'SIGTERM')
    assert.equal(await agents[0]!.stop(), 0)
    assert.ok(!alive(settled[0]), 'the agent stopped with its launcher')
  })
})
