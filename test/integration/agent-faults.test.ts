/**
 * Fail-stop at runtime, in one in-process agent: a component that reports
 * that it could not persist (a failed fsync) is stopped by the agent, its
 * routes answer 503 with the file and the recovery step, /readyz is 503
 * naming it, and the rest of the agent keeps serving.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Agent } from '../../daemon/agent.js'
import { defaults, resolveConfig } from '../../daemon/config.js'
import { StorageFailedError } from '../../lib/errors.js'

describe('agent fail-stop (in process)', function () {
  this.timeout(60_000)
  let dir: string
  let agent: Agent | undefined
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-faults-')) })
  after(async () => {
    await agent?.stop({ leave: false })
    await rm(dir, { recursive: true, force: true })
  })

  it('stops a component that reports a failed write, and /readyz and its routes say so', async () => {
    const cfg = resolveConfig(defaults(), { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', profile: 'test', bootstrap: [] })
    agent = new Agent(cfg, pino({ level: 'silent' }))
    let stops = 0
    agent.add('ledger', {
      start: () => {},
      stop: () => { stops++ }
    }, () => [{ method: 'GET', path: '/v1/ledger', handler: () => ({ json: { ok: true } }) }])
    const status = await agent.start()
    const get = async (path: string): Promise<{ status: number, json: any }> => {
      const res = await fetch(`http://${status.api}${path}`)
      return { status: res.status, json: await res.json() }
    }
    assert.equal((await get('/readyz')).status, 200)
    assert.deepEqual((await get('/v1/ledger')).json, { ok: true })

    const file = join(dir, 'ledger', 'ledger.log')
    agent.faults.report('ledger', new StorageFailedError(file, 'fdatasync failed: EIO'))
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(stops, 1, 'the agent stopped the component')
    const ready = await get('/readyz')
    assert.equal(ready.status, 503)
    assert.equal(ready.json.stopped[0].component, 'ledger')
    assert.equal(ready.json.stopped[0].file, file)
    assert.match(ready.json.error, /ledger stopped: .*ledger\.log: fdatasync failed: EIO; to recover: check the disk/)
    const route = await get('/v1/ledger')
    assert.equal(route.status, 503)
    assert.match(route.json.error, /ledger stopped/)
    // The rest still answers.
    assert.equal((await get('/v1/members')).status, 200)
    assert.equal((await get('/v1/status')).json.stopped[0].component, 'ledger')
  })
})
