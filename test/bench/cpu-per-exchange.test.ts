/** bench/lib/cpu-per-exchange.ts: CPU per run, back to back and after a sleep before each. */
import assert from 'node:assert/strict'
import { cpuPerExchange } from '../../bench/lib/cpu-per-exchange.js'

/** Spins the CPU for `ms` of wall time. */
function spin (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* busy */ }
}

describe('bench/lib/cpu-per-exchange', () => {
  it('counts each run\'s CPU, back to back and after a sleep', async () => {
    let runs = 0
    const op = async (): Promise<void> => { runs++; spin(3) }
    const back = await cpuPerExchange(op, 5)
    assert.equal(runs, 5)
    assert.ok(back >= 2_500, `${back} µs per 3 ms spin`)
    const started = performance.now()
    const after = await cpuPerExchange(op, 5, 20)
    assert.equal(runs, 10)
    assert.ok(performance.now() - started >= 5 * 20, 'slept before each run')
    assert.ok(after >= 2_500, `${after} µs per 3 ms spin`)
  })

})
