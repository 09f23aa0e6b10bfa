/**
 * Bootstrap dial failures are classified from the errors libp2p really
 * throws (daemon/dial-errors.ts): real nodes on loopback, each failure made
 * for real — nothing listening, a wrong peer id, network keys that differ or
 * are missing on one side, a host that accepts TCP and never answers.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKey } from '@libp2p/pnet'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'
import { classifyDialError, dialProgress, type DialFailureReason } from '../../daemon/dial-errors.js'

function psk (): Uint8Array {
  const k = new Uint8Array(95)
  generateKey(k)
  return k
}

describe('dial error classification (real libp2p dials)', function () {
  this.timeout(60_000)
  const nodes = loopbackNodes()
  let silent: Server | undefined
  const sockets: Socket[] = []
  const node = async (networkKey?: Uint8Array): Promise<MycelNode> => await nodes.start({ networkKey })
  const stranger = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  after(async () => {
    for (const s of sockets) s.destroy()
    silent?.close()
    await nodes.stopAll()
  })

  const reasonOf = async (from: MycelNode, to: Multiaddr): Promise<{ reason: DialFailureReason, message: string }> => {
    const progress = dialProgress()
    try {
      await from.dial(to, { signal: AbortSignal.timeout(8_000), onProgress: progress.onProgress })
    } catch (err) {
      return classifyDialError(err, progress.stage())
    }
    throw new Error(`dial to ${to.toString()} succeeded`)
  }

  it('nothing listening: refused', async () => {
    const a = await node()
    const port = await new Promise<number>(resolve => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
    const r = await reasonOf(a, multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${await stranger()}`))
    assert.equal(r.reason, 'refused')
  })

  it('another agent at the address: wrong_peer_id, naming the real one', async () => {
    const a = await node()
    const b = await node()
    const addr = b.getMultiaddrs()[0].toString().replace(/\/p2p\/.*/, '')
    const r = await reasonOf(a, multiaddr(`${addr}/p2p/${await stranger()}`))
    assert.equal(r.reason, 'wrong_peer_id')
    assert.ok(r.message.includes(b.peerId.toString()), r.message)
  })

  it('network keys that differ, or only one side with a key: handshake_failed', async () => {
    const keyed = await node(psk())
    const otherKey = await node(psk())
    const plain = await node()
    assert.equal((await reasonOf(otherKey, keyed.getMultiaddrs()[0])).reason, 'handshake_failed')
    assert.equal((await reasonOf(plain, keyed.getMultiaddrs()[0])).reason, 'handshake_failed')
    // With a key towards an agent without one, that agent may wait for a
    // protocol header inside our key exchange until the deadline, before our
    // side ever starts encrypting: a reset, or a timeout naming the key.
    const r = await reasonOf(keyed, plain.getMultiaddrs()[0])
    assert.ok(r.reason === 'handshake_failed' || (r.reason === 'timeout' && /network key/.test(r.message)), JSON.stringify(r))
  })

  it('a host that accepts and never answers: handshake_failed (it connected); one that never accepts: timeout', async () => {
    const a = await node()
    silent = createServer(s => { sockets.push(s) })
    const port = await new Promise<number>(resolve => silent?.listen(0, '127.0.0.1', () => { resolve((silent?.address() as { port: number }).port) }))
    const r = await reasonOf(a, multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${await stranger()}`))
    assert.equal(r.reason, 'handshake_failed', r.message)
    // Before the TCP connection: a dial cut off by its deadline.
    const err = await a.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${await stranger()}`), { signal: AbortSignal.abort() }).then(() => undefined, (e: unknown) => e)
    assert.equal(classifyDialError(err).reason, 'timeout')
  })

  it('anything else keeps its message', () => {
    assert.deepEqual(classifyDialError(new Error('something odd')), { reason: 'error', message: 'something odd' })
  })
})
