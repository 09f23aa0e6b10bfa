import { strict as assert } from 'node:assert'
import { configSyncConfig } from '../../../protocols/config-sync/constants.js'
import { DEFAULT_LIMITS } from '../../../crdt/constants.js'

describe('config-sync tunables', () => {
  it('an envelope holds the largest single-key write', () => {
    assert.equal(configSyncConfig('lan', { limits: { ...DEFAULT_LIMITS, maxValueBytes: 79 * 1024 } }).limits.maxValueBytes, 79 * 1024)
    assert.throws(() => configSyncConfig('lan', { limits: { ...DEFAULT_LIMITS, maxValueBytes: 80 * 1024 } }),
      { name: 'InvalidTunablesError', message: /config-sync.*limits\.maxEnvelopeBytes \(81920\) must hold the largest single-key write/ })
  })

  it('a watcher backlog holds one event of the largest value', () => {
    assert.throws(() => configSyncConfig('test', { watchBacklogBytes: 64 * 1024 }), { name: 'InvalidTunablesError', message: /test: watchBacklogBytes \(65536\) must hold one event/ })
  })

  it('the default ack wait is within the cap and leaves room to push again', () => {
    assert.throws(() => configSyncConfig('wan', { waitForTimeoutMs: 61_000 }), { name: 'InvalidTunablesError', message: /waitForTimeoutMs \(61000\) must not exceed maxWaitForMs/ })
    assert.throws(() => configSyncConfig('lan', { waitForRetryMs: 5_000 }), { name: 'InvalidTunablesError', message: /waitForRetryMs \(5000\) must be below waitForTimeoutMs/ })
  })

  it('a frame holds a full batch', () => {
    assert.throws(() => configSyncConfig('lan', { batchMaxBytes: 8 * 1024 * 1024 }), { name: 'InvalidTunablesError', message: /maxFrameBytes .* must hold a full batch/ })
  })
})
