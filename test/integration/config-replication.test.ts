/**
 * Replicated config with real agent processes on loopback (issue 3): write on
 * one and read on all, concurrent writes converge, a late starter catches
 * up, an unauthorized writer is rejected everywhere, SIGKILL right after
 * acknowledged writes loses nothing, and `mycel config` set/get/list/watch
 * work end to end.
 */
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

async function value (a: AgentProcess, ns: string, key: string): Promise<unknown> {
  const r = await a.request('GET', `/v1/config/${ns}/${encodeURIComponent(key)}`)
  return r.status === 200 ? r.json.value : undefined
}

async function put (a: AgentProcess, ns: string, key: string, v: unknown, query = ''): Promise<{ status: number, json: any }> {
  return await a.request('PUT', `/v1/config/${ns}/${encodeURIComponent(key)}${query}`, { value: v })
}

async function metric (a: AgentProcess, pattern: RegExp): Promise<number> {
  const res = await fetch(`http://${a.api}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  return text.split('\n').filter(l => pattern.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}

describe('replicated config with 5 agent processes', function () {
  this.timeout(240_000)
  let agents: AgentProcess[] = []
  let rogue: AgentProcess | undefined
  let late: AgentProcess | undefined
  let dir = ''

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-cfg-it-'))
    // The first agent's identity names the only writer of namespace `locked`.
    const first = await AgentProcess.start()
    await first.stop()
    const cfgFile = join(dir, 'agent.yaml')
    await writeFile(cfgFile, `namespaces:\n  locked:\n    writers: [${first.peerId}]\n  typed:\n    schema: { type: integer }\n`)
    first.opts.extraArgs = ['--config', cfgFile]
    await first.spawn()
    const rest = await Promise.all([1, 2, 3].map(async () => await AgentProcess.start({ bootstrap: [first.addr], extraArgs: ['--config', cfgFile] })))
    agents = [first, ...rest]
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === agents.length)
    }, 60_000, 'all agents to see each other alive')
  })

  after(async () => {
    await Promise.all([...agents, rogue, late].map(async a => { await a?.cleanup() }))
    await rm(dir, { recursive: true, force: true })
  })

  it('a write on one agent is readable on every agent, with its writer', async () => {
    const r = await put(agents[1], 'app', 'greeting', { text: 'hello', n: 1 })
    assert.equal(r.status, 200, JSON.stringify(r.json))
    assert.equal(r.json.writer, agents[1].peerId)
    await waitFor(async () => (await Promise.all(agents.map(async a => await value(a, 'app', 'greeting')))).every(v => (v as { n?: number })?.n === 1), 20_000, 'the write everywhere')
    const got = await agents[3].get('/v1/config/app/greeting')
    assert.equal(got.writer, agents[1].peerId)
  })

  it('a write\'s trace id shows the writer and every receiver, each receiver\'s hops under the writer\'s span (docs/tracing.md)', async () => {
    const r = await put(agents[2], 'app', 'traced', 1)
    const trace = r.json.trace as string
    assert.match(trace, /^[0-9a-f]{32}$/)
    // The span lines in each agent's log (stderr: what its log store keeps).
    const spans = (a: AgentProcess): Array<{ span: string, parent?: string, hop: string, name: string }> => a.stderr.split('\n')
      .filter(l => l.includes('"msg":"span"') && l.includes(trace)).flatMap(l => { try { return [JSON.parse(l)] } catch { return [] } })
    const [written] = await waitFor(() => { const s = spans(agents[2]); return s.length > 0 ? s : undefined }, 10_000, 'the writer\'s span')
    assert.deepEqual([written?.name, written?.hop], ['config.write', 'applied'])
    for (const a of agents.filter(x => x !== agents[2])) {
      const s = await waitFor(() => { const s = spans(a); return s.some(x => x.hop === 'applied') ? s : undefined }, 20_000, `the spans of ${a.peerId}`)
      const received = s.find(x => x.hop === 'received')
      assert.equal(received?.parent, written?.span, 'received is a child of the writer\'s span')
      assert.equal(s.find(x => x.hop === 'applied')?.parent, received?.span, 'applied is a child of received')
    }
  })

  it('waitFor returns once that many members hold the write durably', async () => {
    const r = await put(agents[0], 'app', 'acked', 1, '?waitFor=3&timeoutMs=20000')
    assert.equal(r.status, 200, JSON.stringify(r.json))
    assert.equal(r.json.acked.length, 3)
  })

  it('concurrent writes to one key on two agents converge to one value everywhere', async () => {
    for (let round = 0; round < 5; round++) {
      const [x, y] = await Promise.all([put(agents[0], 'app', 'contested', `a${round}`), put(agents[2], 'app', 'contested', `b${round}`)])
      assert.equal(x.status, 200)
      assert.equal(y.status, 200)
    }
    const final = await waitFor(async () => {
      const vs = await Promise.all(agents.map(async a => await value(a, 'app', 'contested')))
      return vs.every(v => v === vs[0]) && ['a4', 'b4'].includes(vs[0] as string) ? vs[0] : undefined
    }, 20_000, 'one value everywhere')
    assert.ok(final === 'a4' || final === 'b4')
  })

  it('rejects a writer the namespace ACL does not list, everywhere', async () => {
    // A rogue agent without the ACL (it thinks everything is open) writes anyway.
    rogue = await AgentProcess.start({ bootstrap: [agents[0].addr] })
    await waitFor(async () => (await rogue!.members()).filter(m => m.state === 'alive').length === 5, 30_000, 'rogue joined')
    // The rogue accepts its own write. Asked to wait for 4 acknowledgements, it
    // pushes the envelope to every member it sees until the wait ends: no
    // honest member acknowledges it, and every one has been offered it (gossip
    // alone reaches only the rogue's mesh, and honest members drop what they
    // reject instead of passing it on).
    const w = await put(rogue, 'locked', 'policy', 'pwned', '?waitFor=4&timeoutMs=3000')
    assert.equal(w.status, 504, JSON.stringify(w.json))
    assert.match(w.json.error, /only 0 of 4 members acknowledged/)
    assert.equal(await value(rogue, 'locked', 'policy'), 'pwned', 'the rogue holds its own write')
    const ok = await put(agents[0], 'locked', 'motd', 'legit')
    assert.equal(ok.status, 200)
    const denied = await put(agents[1], 'locked', 'motd', 'not allowed')
    assert.equal(denied.status, 403)
    await waitFor(async () => (await Promise.all(agents.map(async a => await value(a, 'locked', 'motd')))).every(v => v === 'legit'), 20_000, 'the allowed write everywhere')
    await waitFor(async () => (await Promise.all(agents.map(async a => await metric(a, /^mycel_config_envelopes_total\{result="rejected",reason="access_denied"\}/)))).every(n => n >= 1), 20_000, 'every agent to reject the rogue envelope')
    for (const a of agents) assert.equal(await value(a, 'locked', 'policy'), undefined)
    // Schema: refused at the writer with a clear error.
    const bad = await put(agents[2], 'typed', 'n', 'not an integer')
    assert.equal(bad.status, 422)
    assert.match(bad.json.error, /schema/)
  })

  it('an agent started late catches up', async () => {
    for (let i = 0; i < 100; i++) assert.equal((await put(agents[i % 4], 'bulk', `k${i}`, i)).status, 200)
    late = await AgentProcess.start({ bootstrap: [agents[2].addr] })
    await waitFor(async () => Object.keys((await late!.get('/v1/config/bulk')).entries).length === 100, 30_000, 'late agent to hold 100 keys')
    assert.equal(await value(late, 'app', 'greeting') !== undefined, true)
  })

  it('SIGKILL right after acknowledged writes loses nothing, and they still reach the others', async () => {
    const victim = agents[3]
    // Partition the victim first? Not needed: we check its own disk after the kill.
    const keys: string[] = []
    for (let i = 0; i < 30; i++) {
      const r = await put(victim, 'durable', `k${i}`, { i })
      assert.equal(r.status, 200)
      keys.push(`k${i}`)
    }
    await victim.kill('SIGKILL')
    await victim.spawn()
    const entries = (await victim.get('/v1/config/durable')).entries as Record<string, { i: number }>
    assert.deepEqual(Object.keys(entries).sort(), [...keys].sort())
    await waitFor(async () => (await Promise.all(agents.map(async a => Object.keys((await a.get('/v1/config/durable')).entries).length))).every(n => n === 30), 30_000, 'the writes everywhere')
    // And the restarted agent continues its sequence instead of reusing it.
    const next = await put(victim, 'durable', 'after-restart', true)
    assert.equal(next.json.seq, 31)
  })

  it('the CLI sets, gets, lists and watches', async () => {
    const cli = async (...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args], { timeout: 60_000 })).stdout
    const watcher = spawn(process.execPath, [CLI, 'config', 'watch', 'cli', '--api', agents[2].api, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    watcher.stdout.on('data', (d: Buffer) => { out += d.toString() })
    try {
      await waitFor(() => out.includes('"snapshot"'), 60_000, 'watch snapshot')
      assert.match(await cli('config', 'set', 'cli/port', '8080', '--api', agents[0].api, '--wait-for', '2'), /written \(seq 1\), acknowledged by [2-9] members/)
      // --json names the write's trace (mycel trace follows it).
      assert.match(JSON.parse(await cli('config', 'set', 'cli/name', 'plain words', '--api', agents[0].api, '--json')).trace, /^[0-9a-f]{32}$/)
      // --wait-for 2 made it durable on two others, not necessarily on agents[1]: poll.
      await waitFor(async () => (await cli('config', 'get', 'cli/port', '--api', agents[1].api)).trim() === '8080', 60_000, 'get on another agent')
      await waitFor(() => out.includes('"plain words"'), 60_000, 'watch to print the set from another agent')
      await cli('config', 'del', 'cli/name', '--api', agents[0].api)
      await waitFor(() => out.includes('"event":"delete"'), 60_000, 'watch to print the delete')
      const listing = JSON.parse(await cli('config', 'list', 'cli', '--api', agents[0].api, '--json'))
      assert.deepEqual(listing.entries, { port: 8080 })
      const err = await run(process.execPath, [CLI, 'config', 'set', 'typed/n', '"x"', '--api', agents[0].api]).then(() => '', e => (e as { stderr: string }).stderr)
      assert.match(err, /schema/)
    } finally {
      watcher.kill('SIGINT')
    }
  })
})
