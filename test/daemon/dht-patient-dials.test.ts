/**
 * kad-dht's patient dials (daemon/dht-patient-dials.ts) against a connection
 * manager the test drives: a request's signal ends the wait for a dial, not
 * the dial; a held connection is libp2p's own path; a dial that fails after
 * its wait ended is nobody's error.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { openStreamPatiently, withPatientDials, type StreamOpener, type StreamOptions } from '../../daemon/dht-patient-dials.js'

interface Deferred<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void }
function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

const STREAM = { id: 's' } as unknown as Stream

/** A connection manager whose dials the test settles; it records what was asked of it. */
function fakeManager (open: boolean): { cm: StreamOpener, dial: Deferred<Connection>, calls: string[], dialOptions: unknown[], streams: Array<{ protocol: string | string[], options?: StreamOptions }> } {
  const calls: string[] = []
  const dialOptions: unknown[] = []
  const streams: Array<{ protocol: string | string[], options?: StreamOptions }> = []
  const dial = deferred<Connection>()
  const conn = { status: 'open', newStream: async (protocol: string | string[], options?: StreamOptions) => { streams.push({ protocol, options }); return STREAM } } as unknown as Connection
  const cm: StreamOpener = {
    getConnections: () => open ? [conn] : [],
    openConnection: async (_peer, options) => { calls.push('openConnection'); dialOptions.push(options); return await dial.promise },
    openStream: async () => { calls.push('openStream'); return STREAM }
  }
  return { cm, dial, calls, dialOptions, streams }
}

async function peer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('kad-dht patient dials', () => {
  it('ends the wait at the signal and leaves the dial running', async () => {
    const { cm, dial, calls, dialOptions } = fakeManager(false)
    const ctl = new AbortController()
    const opened = openStreamPatiently(cm, await peer(), '/mycel/kad/1.0.0', { signal: ctl.signal })
    const reason = new Error('request deadline')
    ctl.abort(reason)
    await assert.rejects(opened, (err) => err === reason)
    assert.deepEqual(calls, ['openConnection'])
    assert.deepEqual(dialOptions, [{}], 'the dial carries no signal of the request')
    // The dial failing later is swallowed: mocha fails the run on an unhandled rejection.
    dial.reject(new Error('handshake failed later'))
    await new Promise(resolve => setImmediate(resolve))
  })

  it('opens the stream with the request\'s options once the dial connects in time', async () => {
    const { cm, dial, streams } = fakeManager(false)
    const signal = new AbortController().signal
    const opened = openStreamPatiently(cm, await peer(), '/mycel/kad/1.0.0', { signal, priority: 75 })
    dial.resolve({ status: 'open', newStream: async (protocol: string | string[], options?: StreamOptions) => { streams.push({ protocol, options }); return STREAM } } as unknown as Connection)
    assert.equal(await opened, STREAM)
    assert.equal(streams.length, 1)
    assert.equal(streams[0].protocol, '/mycel/kad/1.0.0')
    assert.equal(streams[0].options?.signal, signal)
  })

  it('passes the priority on to the dial', async () => {
    const { cm, dial, dialOptions } = fakeManager(false)
    const opened = openStreamPatiently(cm, await peer(), '/p', { priority: 75 })
    dial.resolve({ status: 'open', newStream: async () => STREAM } as unknown as Connection)
    await opened
    assert.deepEqual(dialOptions, [{ priority: 75 }])
  })

  it('takes libp2p\'s own path when a connection is open', async () => {
    const { cm, calls } = fakeManager(true)
    assert.equal(await openStreamPatiently(cm, await peer(), '/p', {}), STREAM)
    assert.deepEqual(calls, ['openStream'])
  })

  it('does not dial for a request whose signal has already aborted', async () => {
    const { cm, calls } = fakeManager(false)
    await assert.rejects(openStreamPatiently(cm, await peer(), '/p', { signal: AbortSignal.abort() }))
    assert.deepEqual(calls, [])
  })

  it('hands the wrapped factory components whose connection manager is patient, and the rest as they are', async () => {
    const { cm, calls } = fakeManager(false)
    const other = { name: 'peerStore' }
    let seen: { connectionManager: StreamOpener, peerStore: unknown } | undefined
    const factory = withPatientDials((components: { connectionManager: StreamOpener, peerStore: unknown }) => { seen = components; return 'dht' })
    assert.equal(factory({ connectionManager: cm, peerStore: other }), 'dht')
    assert.ok(seen !== undefined)
    assert.equal(seen.peerStore, other)
    assert.equal(seen.connectionManager, seen.connectionManager, 'one wrapper, not one per access')
    const ctl = new AbortController()
    const opened = seen.connectionManager.openStream(await peer(), '/p', { signal: ctl.signal })
    ctl.abort(new Error('deadline'))
    await assert.rejects(opened, /deadline/)
    assert.deepEqual(calls, ['openConnection'], 'openStream dialed patiently instead of calling libp2p\'s')
    assert.deepEqual(seen.connectionManager.getConnections(), [], 'other methods are the manager\'s own')
  })
})
