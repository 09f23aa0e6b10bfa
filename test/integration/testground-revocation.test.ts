/**
 * The mycel `revocation` case end to end through the local runner and the real daemon: 4 instances in
 * namespaces share a genesis (3 validators, the first also the admin), which revokes the fourth; the
 * other three must cut it off (no connection, policy and member list say revoked) within 30 s, or the
 * case fails the run. This test checks that outcome and the numbers it publishes. Needs `npm run build`,
 * root, iproute2 and nftables; skipped otherwise.
 */
import { strict as assert } from 'node:assert'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { canNetns, leftovers, runCli, runTag } from '../../testground/runner/testing.js'

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..')

describe('testground mycel plan: revocation, 4 instances in namespaces', function () {
  this.timeout(300_000)
  let out: string
  before(function () {
    if (!canNetns || !existsSync(join(ROOT, 'dist/daemon/cli.js'))) this.skip()
    out = mkdtempSync(join(tmpdir(), 'tg-revocation-'))
  })
  after(() => { if (out !== undefined) rmSync(out, { recursive: true, force: true }) })

  it('the revoked instance is cut off at the 3 others and is left without a connection', async () => {
    const resultFile = join(out, 'result.json')
    const r = await runCli(['run', join(ROOT, 'testground/plans/mycel/_compositions/revocation-4.toml'),
      '--timeout', '4m', '--outputs-dir', out, '--result-file', resultFile], 280_000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /run finished with outcome = success \(nodes:4\/4\)/)
    assert.deepEqual(leftovers(runTag(r.stderr)), [])
    const m = JSON.parse(readFileSync(resultFile, 'utf8')).metrics.all
    assert.equal(m.cut_ms.count, 3)
    assert.equal(m.observers.max, 3)
    // Cut off everywhere well inside the case's 30 s limit, and the summary is over the observers' own numbers.
    assert.ok(m.revocation_max_ms.max < 30_000, `${m.revocation_max_ms.max} ms`)
    assert.equal(m.revocation_max_ms.max, m.cut_ms.max)
    assert.equal(m.isolated_ms.count, 1)
  })
})
