import { strict as assert } from 'node:assert'
import { libp2pTunables } from '../../daemon/profiles.js'
import { admissionTunables } from '../../protocols/admission/constants.js'

describe('libp2p tunables', () => {
  it('identify waits out the admission wait of the same profile', () => {
    for (const p of ['lan', 'wan', 'test'] as const) assert.ok(libp2pTunables.defaults(p).identifyTimeoutMs > admissionTunables.defaults(p).admitWaitMs)
  })

  it('gossipsub mesh degree lies between its watermarks', () => {
    assert.equal(libp2pTunables.create('lan', { mesh: { D: 3, Dlo: 3, Dhi: 3, Dlazy: 0 } }).mesh.D, 3)
    assert.throws(() => libp2pTunables.create('lan', { mesh: { D: 2, Dlo: 3, Dhi: 8, Dlazy: 2 } }), { name: 'InvalidTunablesError', message: /libp2p.*lan: mesh\.Dlo \(3\) <= mesh\.D \(2\)/ })
    assert.throws(() => libp2pTunables.create('wan', { mesh: { D: 13, Dlo: 4, Dhi: 12, Dlazy: 6 } }), { name: 'InvalidTunablesError', message: /mesh\.D \(13\) <= mesh\.Dhi \(12\)/ })
  })

  it('the trimmer acts between its watermarks and before libp2p prunes', () => {
    assert.throws(() => libp2pTunables.create('test', { trim: { lowWater: 48, highWater: 48, graceMs: 0, intervalMs: 1_000 } }), { name: 'InvalidTunablesError', message: /trim\.lowWater \(48\) must be below trim\.highWater/ })
    assert.throws(() => libp2pTunables.create('test', { maxConnections: 48 }), { name: 'InvalidTunablesError', message: /trim\.highWater \(48\) must be below maxConnections \(48\)/ })
  })

  it('a TCP connect gives up before the dial it is part of', () => {
    for (const p of ['lan', 'wan', 'test'] as const) {
      const t = libp2pTunables.defaults(p)
      assert.ok(t.tcpConnectTimeoutMs < t.dialTimeoutMs, p)
    }
    assert.throws(() => libp2pTunables.create('lan', { tcpConnectTimeoutMs: 30_000 }), { name: 'InvalidTunablesError', message: /tcpConnectTimeoutMs \(30000\) must be below dialTimeoutMs \(30000\)/ })
  })

  it('redial backoff starts at or below its cap', () => {
    assert.throws(() => libp2pTunables.create('lan', { redialMinMs: 30_001 }), { name: 'InvalidTunablesError', message: /redialMinMs \(30001\) must not exceed redialMaxMs/ })
  })
})
