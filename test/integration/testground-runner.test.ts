/**
 * The local testground runner end to end, on the selftest plan (no mycel involved): outcomes,
 * crashes, hangs, nftables filters in namespaces, refusal of netem-only shaping, bad input, cleanup.
 * Needs `npm run build` (runs dist/testground/runner/cli.js). Namespace tests need root + iproute2 +
 * nftables and are skipped otherwise.
 */
import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import { canNetns, leftovers, runCli, runTag } from '../../testground/runner/testing.js'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..')
const CLI = join(ROOT, 'dist/testground/runner/cli.js')
const PLAN = join(ROOT, 'testground/plans/selftest')

describe('testground local runner (selftest plan)', function () {
  this.timeout(120_000)
  let out: string
  before(() => { out = mkdtempSync(join(tmpdir(), 'tg-it-')) })
  after(() => { rmSync(out, { recursive: true, force: true }) })

  const result = (): any => JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))

  it('runs a composition on loopback and reports success', async () => {
    const r = await runCli(['run', join(PLAN, '_compositions/ok.toml'), '--no-netns', '--outputs-dir', out, '--result-file', join(out, 'result.json')], 60_000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /run finished with outcome = success \(good:3\/3\)/)
    const res = result()
    assert.equal(res.mode, 'loopback')
    assert.equal(res.metrics.all.seq.count, 3)
    assert.equal(res.journal.events.good.success, 3)
  })

  it('counts failures, crashes and hangs per group and still ends', async () => {
    const r = await runCli(['run', join(PLAN, '_compositions/mixed.toml'), '--no-netns', '--timeout', '8s', '--outputs-dir', out, '--result-file', join(out, 'result.json')], 90_000)
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /run finished with outcome = failure \(crashing:0\/1 failing:0\/1 good:2\/2 hanging:0\/1\)/)
    const byGroup = Object.fromEntries(result().instances.map((i: any) => [i.group, i]))
    assert.equal(byGroup.failing.status, 'failure')
    assert.match(byGroup.failing.error, /failing on purpose/)
    assert.equal(byGroup.crashing.status, 'crash')
    assert.equal(byGroup.crashing.exitCode, 3)
    assert.equal(byGroup.hanging.status, 'timeout')
  })

  it('rejects bad input before starting anything (exit 2)', async () => {
    const bad = join(out, 'bad.toml')
    writeFileSync(bad, readFileSync(join(PLAN, '_compositions/ok.toml'), 'utf8').replace('count = 3', 'count = 300').replace('total_instances = 3', 'total_instances = 300'))
    const r = await runCli(['run', bad, '--no-netns', '--plan-dir', PLAN, '--outputs-dir', out], 30_000)
    assert.equal(r.code, 2)
    assert.match(r.stderr, /outside of allowable range \[1, 200\]/)
    assert.doesNotMatch(r.stderr, /starting instances/)
  })

  describe('in network namespaces', function () {
    before(function () { if (!canNetns) this.skip() })

    it('applies rules as testground does (drop stays through an empty list until accept; default.filter ignored), loss and an htb bandwidth limit, then cleans up', async () => {
      const r = await runCli(['run', join(PLAN, '_compositions/filter.toml'), '--timeout', '60s', '--outputs-dir', out, '--result-file', join(out, 'result.json')], 90_000)
      assert.equal(r.code, 0, r.stderr)
      const res = result()
      assert.equal(res.mode, 'netns')
      // drop, empty rules, reject, accept, default.filter, loss, bandwidth (the plan checks reachability after each)
      assert.equal(res.journal.network.applied, 7)
      // default.filter warns, naming the rule to use instead, in the runner log and the instance's sidecar.log
      assert.match(r.stderr, /network config: default\.filter = 2 \(drop\) is ignored.*rules: \[\{ subnet: '<peer IP>\/32', filter: 2 \}\]/)
      const logs = [0, 1].map(i => join(out, 'selftest', res.run_id, 'pair', String(i), 'sidecar.log')).filter(f => existsSync(f))
      assert.equal(logs.length, 1)
      assert.match(readFileSync(logs[0], 'utf8'), /warning: default\.filter = 2 \(drop\) is ignored/)
      // htb at 1 Mbit/s: 256 KiB in about 2 s (the plan itself fails outside 1.5–6 s)
      assert.ok(res.metrics.all.bulk_1mbit_ms.max >= 1500)
      assert.deepEqual(leftovers(runTag(r.stderr)), [])
      assert.ok(res.instances.every((i: any) => /^(1[6-9]|2\d|3[01])\.\d+\.\d+\.\d+$/.test(i.ip)))
    })

    it('refuses latency (no netem here) with a clear reason instead of hanging', async () => {
      const r = await runCli(['run', join(PLAN, '_compositions/netem.toml'), '--timeout', '60s', '--outputs-dir', out, '--result-file', join(out, 'result.json')], 90_000)
      assert.equal(r.code, 1)
      assert.match(result().instances[0].error, /latency need tc netem/)
      assert.equal(result().journal.network.refused, 1)
      assert.deepEqual(leftovers(runTag(r.stderr)), [])
    })

    it('cleans up on Ctrl-C', async () => {
      const child = spawn(process.execPath, [CLI, 'run', join(PLAN, '_compositions/mixed.toml'), '--timeout', '5m', '--outputs-dir', out], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      let sent = false
      child.stderr.on('data', d => {
        stderr += d.toString()
        if (!sent && /all instances started/.test(stderr)) { sent = true; child.kill('SIGINT') }
      })
      const code = await new Promise(resolve => child.on('close', (c, sig) => resolve(c ?? sig)))
      assert.equal(code, 130, stderr)
      assert.match(stderr, /outcome = canceled/)
      assert.deepEqual(leftovers(runTag(stderr)), [])
    })
  })
})
