/**
 * The mycel `rollout` case end to end through the local runner and the real daemon: 4 instances in
 * namespaces roll a component 1.0.0 → 2.0.0 in waves, then to a 3.0.0 whose health check fails, which
 * the update manager rolls back. The case itself fails the run when an instance switched more than once,
 * stays on 3.0.0 or more instances were down at once than max-unavailable (lib/rollout-check.js); this
 * test checks that outcome and the numbers it publishes. Needs `npm run build`, root, iproute2 and
 * nftables; skipped otherwise.
 */
import { strict as assert } from 'node:assert'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { canNetns, leftovers, runCli, runTag } from '../../testground/runner/testing.js'

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..')

describe('testground mycel plan: rollout, 4 instances in namespaces', function () {
  this.timeout(300_000)
  let out: string
  before(function () {
    if (!canNetns || !existsSync(join(ROOT, 'dist/daemon/cli.js'))) this.skip()
    out = mkdtempSync(join(tmpdir(), 'tg-rollout-'))
  })
  after(() => { if (out !== undefined) rmSync(out, { recursive: true, force: true }) })

  it('v2 rolls out in 4 waves within max-unavailable, the failing v3 is rolled back, nothing left behind', async () => {
    const resultFile = join(out, 'result.json')
    const r = await runCli(['run', join(ROOT, 'testground/plans/mycel/_compositions/rollout-4.toml'),
      '--timeout', '4m', '--outputs-dir', out, '--result-file', resultFile], 280_000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /run finished with outcome = success \(nodes:4\/4\)/)
    assert.deepEqual(leftovers(runTag(r.stderr)), [])
    const m = JSON.parse(readFileSync(resultFile, 'utf8')).metrics.all
    assert.equal(m.v2_waves.max, 4) // canary 1, then 25 % of 4 = 1 node per wave
    assert.equal(m.max_unavailable.max, 1)
    assert.ok(m.max_down_seen.max <= 1, `${m.max_down_seen.max} down at once`)
    // A wave cannot pass before its node was healthy for min healthy time (2 s).
    assert.ok(m.v2_rollout_ms.max >= 4 * 2000, `v2 rolled out in ${m.v2_rollout_ms.max} ms`)
    assert.ok(m.v3_touched.max >= 1)
    assert.ok(m.v3_gate_to_stable_ms.max >= 0, 'every touched instance back on 2.0.0')
    assert.equal(m.v2_switch_ms.count, 4)
    assert.equal(m.leftover_killed.max, 0)
  })
})
