/** bench/lib/env.ts: benchmark sizes from the environment, a bad one a usage error naming the variable. */
import assert from 'node:assert/strict'
import { BenchUsageError, envChoice, envNumber, envNumberList } from '../../bench/lib/env.js'

describe('bench/lib/env', () => {
  it('takes the fallback when unset or empty, the value otherwise', () => {
    assert.equal(envNumber({}, 'X', 20, { min: 2, integer: true }), 20)
    assert.equal(envNumber({ X: '' }, 'X', 20, { min: 2, integer: true }), 20)
    assert.equal(envNumber({ X: '5' }, 'X', 20, { min: 2, integer: true }), 5)
    assert.equal(envNumber({ X: '0.5' }, 'X', 30, { min: 0 }), 0.5)
    assert.deepEqual(envNumberList({}, 'L', [20, 50], { min: 2, integer: true }), [20, 50])
    assert.deepEqual(envNumberList({ L: '5, 10' }, 'L', [20, 50], { min: 2, integer: true }), [5, 10])
  })

  it('refuses what is not a number, not whole, or below the minimum, naming the variable', () => {
    const rule = { min: 2, integer: true }
    for (const bad of ['x', '2.5', '1', ' ', 'NaN', 'Infinity']) {
      assert.throws(() => envNumber({ MYCEL_BENCH_COST_N: bad }, 'MYCEL_BENCH_COST_N', 20, rule),
        (err: Error) => err instanceof BenchUsageError && err.name === 'BenchUsageError' && err.message.startsWith('MYCEL_BENCH_COST_N must be an integer ≥ 2'))
    }
    assert.throws(() => envNumberList({ L: '20,,50' }, 'L', [], rule), /L must be an integer ≥ 2, got ""/)
  })

  it('takes one of the choices, refusing anything else by name', () => {
    const kinds = ['silent', 'crash'] as const
    assert.equal(envChoice({}, 'K', 'silent', kinds), 'silent')
    assert.equal(envChoice({ K: 'crash' }, 'K', 'silent', kinds), 'crash')
    for (const bad of ['Crash', 'silent ', 'x']) {
      assert.throws(() => envChoice({ K: bad }, 'K', 'silent', kinds), (err: Error) => err instanceof BenchUsageError && err.message === `K must be one of silent, crash, got ${JSON.stringify(bad)}`)
    }
  })
})
