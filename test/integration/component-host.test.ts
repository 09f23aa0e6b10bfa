/**
 * Issue 13's "done when", with real agent processes and the real CLI: a
 * release published on one node of four, deployed as a system component,
 * runs on all four and reports running/passing in `mycel component status`;
 * SIGKILL of a component process → restarted (restarts ≥ 1); SIGKILL of an
 * agent → the component keeps its pid and the restarted agent re-adopts it;
 * a release signed by an untrusted key is refused; undeploy stops it
 * everywhere; `--count 2` runs two instances, and one moves off a node
 * that dies. The placement records behind that (issue 13 point 5) are
 * checked on the way: one record naming the 2 nodes that run it, read
 * alike by every agent (GET /v1/deployments, the highest term wins), and
 * after the death one of the same or a newer term naming 2 live nodes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI, startCluster, waitFor } from '../../harness/agent-process.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (...args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

interface Entry { node: string, name: string, version: string, state: string, pid: number | null, restarts: number, health: string, since: string }

async function status (a: AgentProcess, name?: string): Promise<Entry[]> {
  const r = await cli('component', 'status', ...(name !== undefined ? [name] : []), '--json', '--api', a.api)
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Entry[]
}

interface Shown { placements?: Array<{ region: string, term: number, assignments: Array<{ node: string }> }> }

/** The nodes the placement record in force on `a` assigns to `name`, with its term; undefined until there is one. */
async function placement (a: AgentProcess, name: string): Promise<{ term: number, nodes: string[] } | undefined> {
  const r = await a.request('GET', `/v1/deployments/${name}`)
  if (r.status !== 200) return undefined
  const p = (r.json as Shown).placements?.find(x => x.region === 'default')
  return p === undefined ? undefined : { term: p.term, nodes: p.assignments.map(x => x.node).sort() }
}

/** Every agent in `agents` reads the record naming exactly `nodes`. */
async function sameRecordOn (agents: AgentProcess[], nodes: string[]): Promise<void> {
  for (const a of agents) await waitFor(async () => JSON.stringify((await placement(a, 'counted'))?.nodes) === JSON.stringify(nodes), 30_000, `the record on ${a.peerId}`)
}

function alive (pid: number | null | undefined): boolean {
  if (pid === null || pid === undefined) return false
  try { process.kill(pid, 0); return true } catch { return false }
}

describe('component host across four real agents', function () {
  this.timeout(240_000)
  let dir: string
  let agents: AgentProcess[] = []
  const pids = new Set<number>()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-host-it-'))
  })

  after(async () => {
    // Components outlive their agents by design: end them here.
    for (const name of ['probe', 'counted']) {
      const a = agents.find(x => x.exitCode === null)
      if (a !== undefined) await cli('component', 'undeploy', name, '--api', a.api).catch(() => undefined)
    }
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    for (const pid of pids) try { process.kill(-pid, 'SIGKILL') } catch {}
    await rm(dir, { recursive: true, force: true })
  })

  it('publish once, deploy to all, kill a component, kill an agent, undeploy', async () => {
    const key = join(dir, 'publisher.key')
    const keygen = await cli('publisher', 'keygen', '--out', key)
    assert.equal(keygen.code, 0, keygen.stderr)
    const publisher = keygen.stdout.trim()
    const app = join(dir, 'probe')
    await mkdir(app)
    await writeFile(join(app, 'mycel.component.yaml'), [
      'name: probe', 'version: 1.0.0', 'entry: ["/bin/sh", "run.sh"]',
      'health:', '  exec: ["/bin/sh", "check.sh"]', '  interval: 1s', '  timeout: 500ms', '  failureThreshold: 2', ''
    ].join('\n'))
    await writeFile(join(app, 'run.sh'), 'exec sleep 100000\n')
    await writeFile(join(app, 'check.sh'), 'exit 0\n')

    agents = await startCluster(4, { extraArgs: ['--publisher', publisher] })
    const nodes = agents.map(a => a.peerId).sort()
    await waitFor(async () => (await agents[0].members()).filter(m => m.state === 'alive').length === 4, 30_000, 'four alive members')

    const pub = await cli('component', 'publish', app, '--key', key, '--api', agents[0].api)
    assert.equal(pub.code, 0, pub.stderr)
    const dep = await cli('component', 'deploy', 'probe@1.0.0', '--api', agents[0].api)
    assert.equal(dep.code, 0, dep.stderr)

    // Every node runs it and passes its health check, as any node's status shows.
    const all = await waitFor(async () => {
      const s = await status(agents[3], 'probe')
      return s.length === 4 && s.every(e => e.state === 'running' && e.health === 'passing' && e.version === '1.0.0') ? s : undefined
    }, 90_000, 'probe running and passing on all four nodes')
    assert.deepEqual(all.map(e => e.node).sort(), nodes)
    for (const e of all) { assert.ok(alive(e.pid), `pid ${String(e.pid)} of ${e.node} runs`); pids.add(e.pid!) }

    // SIGKILL of the component on node 1: restarted, restarts ≥ 1.
    const victim = all.find(e => e.node === agents[1].peerId)!
    process.kill(victim.pid!, 'SIGKILL')
    const back = await waitFor(async () => {
      const e = (await status(agents[1], 'probe')).find(x => x.node === agents[1].peerId)
      return e !== undefined && e.state === 'running' && e.pid !== victim.pid && e.restarts >= 1 && alive(e.pid) ? e : undefined
    }, 30_000, 'probe restarted on node 1')
    pids.add(back.pid!)

    // SIGKILL of the agent on node 2: the component keeps running under the same pid, and the new agent adopts it.
    const kept = all.find(e => e.node === agents[2].peerId)!
    await agents[2].kill('SIGKILL')
    assert.ok(alive(kept.pid), 'the component outlives its agent')
    await agents[2].spawn()
    const adopted = await waitFor(async () => {
      const e = (await status(agents[2], 'probe')).find(x => x.node === agents[2].peerId)
      return e?.state === 'running' ? e : undefined
    }, 30_000, 'probe adopted on node 2')
    assert.equal(adopted.pid, kept.pid, 'same process, not a restart')
    assert.equal(adopted.restarts, kept.restarts)

    // A release signed by a key no node trusts is refused with one line.
    const other = join(dir, 'other.key')
    assert.equal((await cli('publisher', 'keygen', '--out', other)).code, 0)
    await writeFile(join(app, 'mycel.component.yaml'), 'name: probe\nversion: 2.0.0\nentry: ["/bin/sh", "run.sh"]\n')
    const untrusted = await cli('component', 'publish', app, '--key', other, '--api', agents[1].api)
    assert.notEqual(untrusted.code, 0)
    assert.match(untrusted.stderr, /^mycel: .*not trusted/)

    // Undeploy: stopped on every node.
    assert.equal((await cli('component', 'undeploy', 'probe', '--api', agents[0].api)).code, 0)
    await waitFor(async () => (await status(agents[0], 'probe')).length === 0 && [...pids].every(p => !alive(p)), 30_000, 'probe stopped everywhere')

    // --count 2: the network manager places two instances; when a placed node dies, one starts elsewhere.
    await writeFile(join(app, 'mycel.component.yaml'), 'name: counted\nversion: 1.0.0\nentry: ["/bin/sh", "run.sh"]\n')
    assert.equal((await cli('component', 'publish', app, '--key', key, '--api', agents[0].api)).code, 0)
    assert.equal((await cli('component', 'deploy', 'counted@1.0.0', '--count', '2', '--api', agents[0].api)).code, 0)
    const live = (s: Entry[]): Entry[] => s.filter(e => e.state === 'running' && !(e as Entry & { stale?: boolean }).stale)
    const placed = await waitFor(async () => {
      const s = live(await status(agents[0], 'counted'))
      return s.length === 2 ? s : undefined
    }, 60_000, 'two instances of counted running')
    for (const e of placed) pids.add(e.pid!)
    // The record behind it names the two nodes that run it, alike on every agent.
    const running = JSON.stringify(placed.map(e => e.node).sort())
    const first = await waitFor(async () => { const p = await placement(agents[0], 'counted'); return JSON.stringify(p?.nodes) === running ? p : undefined }, 30_000, 'a placement record naming the two nodes')
    await sameRecordOn(agents, first.nodes)
    // The node dies: its agent and, with the machine, its component.
    const dead = agents.find(a => a.peerId === placed[0].node)!
    await dead.kill('SIGKILL')
    process.kill(-placed[0].pid!, 'SIGKILL')
    const witness = agents.find(a => a !== dead)!
    const moved = await waitFor(async () => {
      const s = live(await status(witness, 'counted'))
      return s.length === 2 && !s.some(e => e.node === dead.peerId) ? s : undefined
    }, 60_000, 'counted moved off the dead node')
    assert.ok(moved.some(e => e.node === placed[1].node), 'the instance on the live node stays where it is')
    for (const e of moved) pids.add(e.pid!)
    // A record of the same or a newer term names the two live nodes that run it now, alike on every live agent.
    const now = JSON.stringify(moved.map(e => e.node).sort())
    const next = await waitFor(async () => { const p = await placement(witness, 'counted'); return JSON.stringify(p?.nodes) === now ? p : undefined }, 30_000, 'a placement record naming the two live nodes')
    assert.ok(next.term >= first.term, `term ${next.term} after ${first.term}`)
    await sameRecordOn(agents.filter(a => a !== dead), next.nodes)
    assert.equal((await cli('component', 'undeploy', 'counted', '--api', witness.api)).code, 0)
    await waitFor(async () => live(await status(witness, 'counted')).length === 0, 30_000, 'counted stopped')
  })
})
