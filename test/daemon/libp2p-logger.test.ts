/**
 * libp2p's component logger: one shared silent logger unless DEBUG is set,
 * @libp2p/logger's own loggers when it is, and the node really gets it.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { libp2pLogger } from '../../daemon/libp2p-logger.js'
import { createNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'

describe('libp2p logger', () => {
  it('without DEBUG: one silent logger for every component and scope, and it writes nothing', () => {
    const logger = libp2pLogger({})
    const a = logger.forComponent('libp2p:connection:outbound:abc')
    const b = logger.forComponent('libp2p:yamux')
    assert.equal(a, b)
    assert.equal(a.enabled, false)
    assert.equal(a.newScope('stream:1'), a)
    const writes: unknown[] = []
    const original = process.stderr.write
    process.stderr.write = ((chunk: unknown) => { writes.push(chunk); return true }) as typeof process.stderr.write
    try {
      a('dialing %s', 'x')
      a.error('failed %e', new Error('boom'))
      a.trace('frame %d', 1)
    } finally {
      process.stderr.write = original
    }
    assert.deepEqual(writes, [])
  })

  it('a DEBUG of only blanks counts as unset', () => {
    assert.equal(libp2pLogger({ DEBUG: '  ' }).forComponent('x'), libp2pLogger({}).forComponent('y'))
  })

  it('with DEBUG: @libp2p/logger\'s named loggers', () => {
    const log = libp2pLogger({ DEBUG: 'libp2p:*' }).forComponent('libp2p:dialer') as unknown as { namespace: string }
    assert.equal(log.namespace, 'libp2p:dialer')
    assert.notEqual(log, libp2pLogger({}).forComponent('libp2p:dialer'))
  })

  it('the daemon\'s libp2p node uses it', async function () {
    this.timeout(20_000)
    // createNode reads DEBUG from the environment: a run with DEBUG set must not change what this checks.
    const debug = process.env.DEBUG
    delete process.env.DEBUG
    const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test') })
      .finally(() => { if (debug !== undefined) process.env.DEBUG = debug })
    try {
      assert.equal(node.logger.forComponent('a'), libp2pLogger({}).forComponent('b'))
    } finally {
      await node.stop()
    }
  })
})
