import { strict as assert } from 'node:assert'
import { bftTunables, MAX_ENTRY_TTL_MS } from '../../../protocols/bft/constants.js'

describe('bft tunables', () => {
  it('the default propose wait fits the entry lifetime cap', () => {
    const lan = bftTunables.defaults('lan')
    assert.equal(bftTunables.create('lan', { proposeWaitMs: MAX_ENTRY_TTL_MS - lan.clockSkewMs }).proposeWaitMs, MAX_ENTRY_TTL_MS - lan.clockSkewMs)
    assert.throws(() => bftTunables.create('lan', { proposeWaitMs: MAX_ENTRY_TTL_MS }), { name: 'InvalidTunablesError', message: /bft.*proposeWaitMs \+ clockSkewMs .* MAX_ENTRY_TTL_MS/ })
  })

  it('round timeouts grow with the round (every delta positive)', () => {
    assert.throws(() => bftTunables.create('test', { prevoteDeltaMs: 0 }), { name: 'InvalidTunablesError', message: /test: prevoteDeltaMs/ })
  })
})
