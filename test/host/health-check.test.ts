/** host/health-check.ts: the passing/failing/unknown rule on a virtual clock with a scripted probe; bad specs refused. */
import assert from 'node:assert/strict'
import { hostTunables } from '../../host/constants.js'
import { HealthCheck, type HealthState } from '../../host/health-check.js'
import type { ProbeResult } from '../../host/probes.js'
import { VirtualClock } from '../sim/clock.js'

const t = hostTunables.defaults('test')

describe('host/health-check', () => {
  it('unknown until a result; passing on success; failing only after failureThreshold failures in a row', async () => {
    const clock = new VirtualClock()
    const script: boolean[] = [false, true, false, false, false, true]
    const runs: number[] = []
    const hc = new HealthCheck({
      spec: { exec: ['/bin/true'], intervalMs: 100, failureThreshold: 3 },
      tunables: t,
      clock,
      probe: async (): Promise<ProbeResult> => { runs.push(clock.now()); const ok = script.shift() ?? true; return { ok, detail: ok ? 'exit 0' : 'exit 1' } }
    })
    const seen: HealthState[] = []
    hc.addEventListener('health:change', e => { seen.push(e.detail.state) })
    assert.equal(hc.status().state, 'unknown')
    hc.start()
    await clock.tickAsync(0)
    assert.equal(hc.status().state, 'unknown', 'one failure from unknown is not yet failing')
    await clock.tickAsync(100)
    assert.equal(hc.status().state, 'passing')
    await clock.tickAsync(200)
    assert.equal(hc.status().state, 'passing', 'two failures stay passing')
    assert.equal(hc.status().failures, 2)
    await clock.tickAsync(100)
    assert.equal(hc.status().state, 'failing')
    await clock.tickAsync(100)
    assert.equal(hc.status().state, 'passing')
    assert.deepEqual(seen, ['passing', 'failing', 'passing'])
    assert.deepEqual(runs, [0, 100, 200, 300, 400, 500])
    hc.stop()
    assert.equal(hc.status().state, 'unknown')
    assert.equal(clock.pending, 0)
  })

  it('a run that outlasts the interval delays the next one (runs never overlap)', async () => {
    const clock = new VirtualClock()
    let inFlight = 0
    let most = 0
    let runs = 0
    const hc = new HealthCheck({
      spec: { tcp: { host: '127.0.0.1', port: 1 }, intervalMs: 10, timeoutMs: 10 },
      tunables: t,
      clock,
      probe: async () => {
        inFlight++
        runs++
        most = Math.max(most, inFlight)
        await new Promise<void>(resolve => clock.setTimeout(resolve, 50))
        inFlight--
        return { ok: true, detail: 'ok' }
      }
    })
    hc.start()
    await clock.tickAsync(500)
    hc.stop()
    assert.equal(most, 1)
    // It kept running, each run intervalMs after the previous one ended: starts at 0, 60, ..., 480.
    assert.equal(runs, 9)
  })

  it('refuses a spec with no kind, two kinds, a bad port, a bad URL or a zero threshold', () => {
    const bad: unknown[] = [{}, { exec: ['a'], http: 'http://x' }, { tcp: { host: 'h', port: 70000 } }, { http: 'ftp://x' }, { exec: [] }, { exec: ['a'], failureThreshold: 0 }]
    for (const spec of bad) assert.throws(() => new HealthCheck({ spec: spec as any, tunables: t }), { name: 'InvalidHealthCheckError' })
  })
})
