/**
 * The mycel `component-distribution` case end to end through the local runner, the real daemon and the
 * sidecar's bandwidth cap: 4 instances, 4 MB, 10 Mbit/s per instance. Needs `npm run build`, root,
 * iproute2 and nftables; skipped otherwise.
 */
import { strict as assert } from 'node:assert'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { canNetns, leftovers, runCli, runTag } from '../../testground/runner/testing.js'

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..')

async function runComposition (out: string, name: string): Promise<any> {
  const resultFile = join(out, `${name}.json`)
  const r = await runCli(['run', join(ROOT, `testground/plans/mycel/_compositions/${name}.toml`),
    '--timeout', '4m', '--outputs-dir', out, '--result-file', resultFile], 280_000)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /run finished with outcome = success \(nodes:4\/4\)/)
  assert.deepEqual(leftovers(runTag(r.stderr)), [])
  return JSON.parse(readFileSync(resultFile, 'utf8'))
}

describe('testground mycel plan: component-distribution, 4 instances in namespaces', function () {
  this.timeout(300_000)
  let out: string
  before(function () {
    if (!canNetns || !existsSync(join(ROOT, 'dist/daemon/cli.js'))) this.skip()
    out = mkdtempSync(join(tmpdir(), 'tg-dist-'))
  })
  after(() => { if (out !== undefined) rmSync(out, { recursive: true, force: true }) })

  it('single source: 3 receivers download 4 MB through the publisher\'s 10 Mbit/s uplink, no faster than the cap allows', async () => {
    const res = await runComposition(out, 'component-distribution-single-4')
    const m = res.metrics.all
    assert.equal(m.distribute_ms.count, 3)
    assert.equal(m.single_source_bound_ms.max, 9600) // 3 × 4 MB × 8 / 10 Mbit/s
    // Unshaped, 12 MB cross a veth in well under a second: taking at least ~the bound shows the cap held.
    assert.ok(m.all_hold_ms.max >= 0.9 * 9600, `all held after ${m.all_hold_ms.max} ms`)
  })

  it('swarm: a deploy reaches the 3 receivers\' component hosts, and the undeploy stops every instance', async () => {
    const res = await runComposition(out, 'component-distribution-swarm-4')
    const m = res.metrics.all
    assert.equal(m.distribute_ms.count, 3)
    // Every node's agent fetched the archive or held it: 4 MB each for the receivers.
    assert.equal(m.artifact_bytes_fetched.min, 0) // the publisher
    assert.ok(m.artifact_bytes_fetched.p50 >= 4_000_000)
    // Undeployed everywhere without the case having to kill a leftover process.
    assert.equal(m.leftover_killed.max, 0)
  })
})
