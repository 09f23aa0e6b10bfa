/**
 * daemon/noise-crypto.ts: the same results as @chainsafe/libp2p-noise's own
 * Node crypto for every key and every HKDF input, no stale key when an array
 * is reused, and a real handshake with a node that runs the stock crypto.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { noise } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { identify } from '@libp2p/identify'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../../daemon/noise-crypto.js'

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
/** A key as a list of chunks; noise types it with its own copy of uint8arraylist, the same class. */
const chunks = (...parts: Uint8Array[]): KeyBytes => new Uint8ArrayList(...parts) as unknown as KeyBytes
type KeyBytes = Parameters<typeof noiseCrypto.generateX25519SharedKey>[1]
const hex = (b: Uint8Array | Uint8ArrayList): string => Buffer.from(b.subarray()).toString('hex')

describe('noiseCrypto', () => {
  it('derives the same public key from a seed and the same shared secret as the stock crypto, for any keys', () => {
    fc.assert(fc.property(key32, key32, (seedA, seedB) => {
      const a = noiseCrypto.generateX25519KeyPairFromSeed(seedA)
      const b = noiseCrypto.generateX25519KeyPairFromSeed(seedB)
      assert.equal(hex(a.publicKey), hex(defaultCrypto.generateX25519KeyPairFromSeed(seedA).publicKey))
      const mine = noiseCrypto.generateX25519SharedKey(a.privateKey, b.publicKey)
      assert.equal(hex(mine), hex(defaultCrypto.generateX25519SharedKey(seedA, b.publicKey)))
      // Both ends agree, and a key passed as a list of chunks gives the same.
      assert.equal(hex(noiseCrypto.generateX25519SharedKey(b.privateKey, chunks(a.publicKey.subarray(0, 7), a.publicKey.subarray(7)))), hex(mine))
    }), { numRuns: 200 })
  })

  it('computes Noise HKDF exactly as the stock crypto, for any chaining key and input', () => {
    fc.assert(fc.property(key32, fc.uint8Array({ maxLength: 64 }), (ck, ikm) => {
      const mine = noiseCrypto.getHKDF(ck, ikm)
      const stock = defaultCrypto.getHKDF(ck, ikm)
      assert.deepEqual(mine.map(hex), stock.map(hex))
      assert.deepEqual(mine.map(k => k.byteLength), [32, 32, 32])
    }), { numRuns: 300 })
  })

  it('an ephemeral pair it generates agrees with the stock crypto reading the same bytes', () => {
    for (let i = 0; i < 50; i++) {
      const e = noiseCrypto.generateX25519KeyPair()
      const peer = defaultCrypto.generateX25519KeyPair()
      assert.equal(hex(noiseCrypto.generateX25519SharedKey(e.privateKey, peer.publicKey)), hex(defaultCrypto.generateX25519SharedKey(peer.privateKey, e.publicKey)))
      assert.equal(hex(defaultCrypto.generateX25519KeyPairFromSeed(e.privateKey).publicKey), hex(e.publicKey))
    }
  })

  it('never answers with a remembered key for an array whose bytes changed', () => {
    fc.assert(fc.property(key32, key32, key32, (s1, s2, other) => {
      fc.pre(hex(s1) !== hex(s2))
      const peer = defaultCrypto.generateX25519KeyPairFromSeed(other).publicKey
      const pub = Uint8Array.from(peer)
      const priv = Uint8Array.from(s1)
      const first = noiseCrypto.generateX25519SharedKey(priv, pub)
      assert.equal(hex(first), hex(defaultCrypto.generateX25519SharedKey(s1, peer)))
      // The same arrays, refilled: a buffer a caller reuses.
      priv.set(s2)
      const otherPub = defaultCrypto.generateX25519KeyPairFromSeed(s2).publicKey
      pub.set(otherPub)
      assert.equal(hex(noiseCrypto.generateX25519SharedKey(priv, pub)), hex(defaultCrypto.generateX25519SharedKey(s2, otherPub)))
    }), { numRuns: 100 })
  })

  it('refuses a key that is not 32 bytes with a clear error', () => {
    assert.throws(() => noiseCrypto.generateX25519SharedKey(new Uint8Array(31), new Uint8Array(32)), /X25519 key is 32 bytes, not 31/)
  })

  describe('handshakes with the stock crypto (real libp2p nodes over TCP)', function () {
    this.timeout(30_000)
    const nodes: Libp2p[] = []
    const make = async (crypto?: typeof noiseCrypto): Promise<Libp2p> => {
      const n = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise(crypto !== undefined ? { crypto } : {})],
        streamMuxers: [yamux()],
        services: { identify: identify() }
      })
      nodes.push(n)
      return n
    }
    after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

    for (const [name, dialerOurs] of [['ours dials stock', true], ['stock dials ours', false]] as const) {
      it(`${name}: the connection is encrypted with the remote's real identity and carries a stream`, async () => {
        const ours = await make(noiseCrypto)
        const stock = await make()
        const [dialer, listener] = dialerOurs ? [ours, stock] : [stock, ours]
        // identify runs over the encrypted connection: the dialer learns the listener's protocols.
        const identified = new Promise<string[]>(resolve => {
          dialer.addEventListener('peer:identify', (e) => { if (e.detail.peerId.equals(listener.peerId)) resolve(e.detail.protocols) })
        })
        const conn = await dialer.dial(listener.getMultiaddrs()[0])
        assert.equal(conn.remotePeer.toString(), listener.peerId.toString())
        assert.equal(conn.encryption, '/noise')
        const protocols = await identified
        assert.ok(protocols.includes('/ipfs/id/1.0.0'), protocols.join(','))
      })
    }
  })
})
