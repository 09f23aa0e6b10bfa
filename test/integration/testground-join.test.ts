/**
 * The mycel `join` composition with 5 instances, each in its own network namespace, end to end through
 * the local runner and the real daemon (dist/daemon/cli.js). Needs `npm run build`, root, iproute2 and
 * nftables; skipped otherwise.
 */
import { strict as assert } from 'node:assert'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { canNetns, leftovers, runCli, runTag } from '../../testground/runner/testing.js'

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..')

describe('testground mycel plan: join, 5 instances in namespaces', function () {
  this.timeout(300_000)
  let out: string
  before(function () {
    if (!canNetns || !existsSync(join(ROOT, 'dist/daemon/cli.js'))) this.skip()
    out = mkdtempSync(join(tmpdir(), 'tg-join-'))
  })
  after(() => { if (out !== undefined) rmSync(out, { recursive: true, force: true }) })

  it('every agent sees all 5 alive; outcome success; namespaces removed', async () => {
    const resultFile = join(out, 'result.json')
    const r = await runCli(['run', join(ROOT, 'testground/plans/mycel/_compositions/join-5.toml'),
      '--timeout', '4m', '--outputs-dir', out, '--result-file', resultFile], 280_000)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /run finished with outcome = success \(nodes:5\/5\)/)
    const res = JSON.parse(readFileSync(resultFile, 'utf8'))
    assert.equal(res.metrics.all.join_ms.count, 5)
    assert.ok(res.rss.peak_bytes.max > 0)
    assert.deepEqual(leftovers(runTag(r.stderr)), [])
  })
})
