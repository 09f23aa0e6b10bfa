/**
 * Log aggregation with real agent processes (issue 17, docs/logs.md): 4 agents
 * on loopback, test profile, one region.
 *  - `mycel logs --since 1m` returns lines from all 4 nodes, in time order;
 *  - `--grep` and `--level` filter; an invalid pattern is a usage error (exit 2);
 *  - `-f` delivers a line logged after the follow started, and a node killed
 *    while followed is reported as no longer answering.
 */
import { strict as assert } from 'node:assert'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { AgentProcess, CLI, startCluster, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)
const LEVEL_RANK: Record<string, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5 }

interface Rec { time: string, node: string, component: string, level: string, msg: string, [k: string]: unknown }
interface End { lines: number, more: boolean, nodes: string[], missing: Array<{ node: string, error: string }> }

function parse (stdout: string): { lines: Rec[], controls: Array<Record<string, any>> } {
  const all = stdout.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, any>)
  const isControl = (o: Record<string, any>): boolean => Object.keys(o).length === 1 && ['end', 'missing', 'gap'].includes(Object.keys(o)[0])
  return { lines: all.filter(o => !isControl(o)) as Rec[], controls: all.filter(isControl) }
}

describe('logs across 4 agent processes', function () {
  this.timeout(120_000)
  let agents: AgentProcess[] = []

  before(async () => {
    agents = await startCluster(4)
    await waitFor(async () => (await agents[0].members()).filter(m => m.state === 'alive').length === 4, 20_000, 'all 4 alive')
  })

  after(async () => { await Promise.all(agents.map(async a => { await a.cleanup() })) })

  const logs = async (...args: string[]): Promise<{ stdout: string, stderr: string }> =>
    await run(process.execPath, [CLI, 'logs', '--api', agents[0].api, ...args], { timeout: 20_000 })

  it('logs --since 1m returns lines from all 4 nodes in time order', async () => {
    const { stdout } = await logs('--since', '1m', '--json')
    const { lines, controls } = parse(stdout)
    assert.deepEqual(new Set(lines.map(l => l.node)), new Set(agents.map(a => a.peerId)))
    const times = lines.map(l => Date.parse(l.time))
    for (let i = 1; i < times.length; i++) assert.ok(times[i - 1] <= times[i], `line ${i} is out of order: ${lines[i - 1].time} then ${lines[i].time}`)
    for (const l of lines) for (const k of ['time', 'node', 'component', 'level', 'msg']) assert.ok(k in l, `a line without ${k}: ${JSON.stringify(l)}`)
    const end = controls.at(-1)?.end as End
    assert.equal(end.nodes.length, 4)
    assert.deepEqual(end.missing, [])
    // The human form: one line per log line, with the short node id and the component.
    const human = (await logs('--since', '1m', '--limit', '5')).stdout.trim().split('\n')
    assert.equal(human.length, 5)
    assert.match(human[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}12D3Ko…\w{6} {2}agent/)
  })

  it('--grep and --level filter, and an invalid pattern is a usage error', async () => {
    // The filters through the admin API the CLI calls (each CLI start costs a second or more on a loaded machine).
    const api = async (query: string): Promise<Rec[]> => {
      const res = await fetch(`http://${agents[0].api}/v1/logs?${query}`, { signal: AbortSignal.timeout(10_000) })
      assert.equal(res.status, 200)
      return parse(await res.text()).lines
    }
    const started = await api(`since=1m&grep=${encodeURIComponent('mycel agent star[t]ed')}`)
    assert.deepEqual(new Set(started.map(l => l.node)), new Set(agents.map(a => a.peerId)))
    assert.ok(started.every(l => l.msg === 'mycel agent started'), JSON.stringify(started.map(l => l.msg)))
    // One fixed window for both queries, so lines logged meanwhile cannot make them differ.
    const until = encodeURIComponent(new Date().toISOString())
    const everything = await api(`since=1m&until=${until}&limit=10000`)
    assert.ok(everything.some(l => LEVEL_RANK[l.level] < LEVEL_RANK.warn), 'there are lines below warn to filter out')
    const warn = await api(`since=1m&until=${until}&limit=10000&level=warn`)
    assert.ok(warn.every(l => LEVEL_RANK[l.level] >= LEVEL_RANK.warn), JSON.stringify(warn.map(l => l.level)))
    assert.equal(warn.length, everything.filter(l => LEVEL_RANK[l.level] >= LEVEL_RANK.warn).length)
    assert.equal((await api(`since=1m&grep=${encodeURIComponent('no line says th[i]s')}`)).length, 0)
    const bad = await logs('--grep', '(a').then(() => undefined, (err: { code: number, stderr: string }) => err)
    assert.equal(bad?.code, 2)
    assert.equal(bad?.stderr.trim().split('\n').length, 1)
    assert.match(bad?.stderr ?? '', /invalid RE2 pattern/)
  })

  it('-f delivers lines logged after the follow started, and reports a node killed meanwhile', async () => {
    const victim = agents[3]
    const follower = spawn(process.execPath, [CLI, 'logs', '--api', agents[0].api, '-f', '--json', '--since', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    follower.stdout.on('data', (d: Buffer) => { out += d.toString() })
    follower.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const exited = new Promise<number | null>(resolve => follower.once('exit', code => { resolve(code) }))
    try {
      await waitFor(() => parse(out).controls.some(c => 'end' in c), 10_000, 'the end of the history')
      const followFrom = Date.now()
      await victim.kill('SIGKILL')
      // The survivors log the victim's failure (probe failed / suspected / dead) after the follow began.
      const later = await waitFor(() => parse(out).lines.find(l => l.node !== victim.peerId && Date.parse(l.time) >= followFrom && JSON.stringify(l).includes(victim.peerId)), 15_000, 'a followed line about the killed node')
      assert.notEqual(later.node, victim.peerId)
      await waitFor(() => parse(out).controls.find(c => 'missing' in c && c.missing.node === victim.peerId), 10_000, 'the killed node reported as not answering')
      assert.match(err, new RegExp(`no more lines from ${victim.peerId}`))
    } finally {
      follower.kill('SIGTERM')
    }
    assert.equal(await exited, 0)
  })
})
