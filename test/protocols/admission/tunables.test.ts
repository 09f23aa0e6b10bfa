import { strict as assert } from 'node:assert'
import { admissionTunables } from '../../../protocols/admission/constants.js'

describe('admission tunables', () => {
  it('the admission wait covers every handshake attempt', () => {
    const lan = admissionTunables.defaults('lan')
    assert.equal(admissionTunables.create('lan', { admitWaitMs: lan.handshakeAttempts * lan.handshakeTimeoutMs }).admitWaitMs, 20_000)
    assert.throws(() => admissionTunables.create('lan', { admitWaitMs: 19_999 }), { name: 'InvalidTunablesError', message: /admission.*admitWaitMs \(19999\) must cover/ })
    assert.throws(() => admissionTunables.create('test', { handshakeAttempts: 3 }), { name: 'InvalidTunablesError', message: /admitWaitMs/ })
  })

  it('names a bad or unknown field', () => {
    assert.throws(() => admissionTunables.create('wan', { maxRefusals: 0 }), { name: 'InvalidTunablesError', message: /wan: maxRefusals/ })
    assert.throws(() => admissionTunables.create('wan', { maxRefusal: 1 } as never), { name: 'InvalidTunablesError', message: /maxRefusal/ })
  })
})
