/**
 * Admission (protocols/admission): the hello rule, then real libp2p nodes on
 * loopback. Nodes with one genesis admit each other; a node with another
 * genesis, one without any, and a plain libp2p node that does not speak the
 * handshake are refused on both sides with the reason, and not one byte of
 * any other protocol reaches a handler, in either direction, even when the
 * outsider opens its stream the moment it connects. A refused peer is then
 * denied by the connection gater.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import { admission, admissionTunables, decodeHello, encodeHello, judgeHello, type NetworkIdentity } from '../../protocols/admission/index.js'
import { encodeCbor } from '../../wire/codec.js'
import { handleRequests, request, type RpcHost } from '../../wire/rpc.js'

const G1: NetworkIdentity = { genesis: new Uint8Array(32).fill(1), networkId: 'one' }
const G2: NetworkIdentity = { genesis: new Uint8Array(32).fill(2), networkId: 'two' }
const ECHO = '/test/echo/1.0.0'
const PILE = '/test/pile/1.0.0'
const log = pino({ level: process.env.MYCEL_TEST_LOG ?? 'silent' })

interface TestNode { node: MycelNode, served: string[] }

async function start (network: NetworkIdentity | undefined | 'none', registry = new Registry(), over: { policyRequired?: boolean, limitedWaitMs?: number } = {}): Promise<TestNode> {
  const config = admissionTunables.create('test', { limitedWaitMs: over.limitedWaitMs })
  const node = await createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    profile: libp2pTunables.defaults('test'),
    // 'none': a plain libp2p node without the admission protocol.
    ...(network === 'none' ? {} : { admission: admission({ network, config, logger: log, registry, policyRequired: over.policyRequired }) })
  })
  await node.start()
  const t: TestNode = { node, served: [] }
  await handleRequests(node as unknown as RpcHost, ECHO, async (req, conn, reply) => {
    t.served.push(conn.remotePeer.toString())
    await reply(req)
  }, { timeoutMs: 5_000, maxBytes: 1024, onError: () => {} })
  return t
}

async function waitFor (what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const id = (t: TestNode): string => t.node.peerId.toString()
const adm = (t: TestNode) => t.node.services.admission!

describe('admission', function () {
  this.timeout(60_000)

  describe('the hello rule', () => {
    it('admits equal genesis or none on both sides, refuses everything else with a reason', () => {
      const hello = (n: NetworkIdentity | undefined) => decodeHello(encodeHello(n))
      assert.equal(judgeHello(G1, hello(G1)), undefined)
      assert.equal(judgeHello(undefined, hello(undefined)), undefined)
      assert.equal(judgeHello(G1, hello(G2))?.reason, 'genesis_mismatch')
      assert.match(judgeHello(G1, hello(G2))?.detail ?? '', /network two.*differs.*network one/)
      assert.equal(judgeHello(G1, hello(undefined))?.reason, 'peer_without_genesis')
      assert.equal(judgeHello(undefined, hello(G1))?.reason, 'peer_has_genesis')
    })

    it('decodes only well-formed hellos', () => {
      for (const bad of [
        { v: 1, genesis: new Uint8Array(31), networkId: 'x' },
        { v: 1, genesis: new Uint8Array(32), networkId: null },
        { v: 1, genesis: null, networkId: 'x' },
        { v: 2, genesis: null, networkId: null },
        { v: 1, genesis: null, networkId: null, tc: 7 }
      ]) {
        assert.throws(() => decodeHello(encodeCbor(bad)), (err: Error) => ['MalformedMessageError', 'UnsupportedVersionError'].includes(err.name), JSON.stringify(bad, (_k, v) => v instanceof Uint8Array ? v.length : v))
      }
    })

    it('ignores fields it does not know and carries tc (docs/wire.md)', () => {
      const tc = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
      const hello = decodeHello(encodeCbor({ v: 1, genesis: G1.genesis, networkId: G1.networkId, tc, extra: 1 }))
      assert.deepEqual(hello, { v: 1, genesis: G1.genesis, networkId: G1.networkId, tc })
      assert.equal(judgeHello(G1, hello), undefined)
    })
  })

  describe('over real libp2p nodes', () => {
    const nodes: TestNode[] = []
    const make = async (network: NetworkIdentity | undefined | 'none', over: { policyRequired?: boolean, limitedWaitMs?: number } = {}): Promise<TestNode> => {
      const t = await start(network, new Registry(), over)
      nodes.push(t)
      return t
    }
    afterEach(async () => { await Promise.all(nodes.splice(0).map(async t => { await t.node.stop() })) })

    /** Dial and open an echo stream at once, as an eager outsider would; resolves with the reply or the error. */
    const eager = async (from: TestNode, to: TestNode): Promise<Uint8Array | Error> => {
      try {
        const conn = await from.node.dial(to.node.getMultiaddrs()[0])
        return await request({ dialProtocol: async (_p: unknown, protocols: string | string[], o?: { signal?: AbortSignal }) => await conn.newStream(protocols, o) } as unknown as RpcHost, to.node.peerId, ECHO, new Uint8Array([1, 2, 3]), { timeoutMs: 8_000, maxBytes: 1024 })
      } catch (err) {
        return err as Error
      }
    }

    it('peers with the same genesis are admitted and talk', async () => {
      const a = await make(G1)
      const b = await make(G1)
      // Identify waits at the gate: when a has identified b, it has admitted b.
      const identified = new Promise<boolean>(resolve => {
        a.node.addEventListener('peer:identify', (evt) => { if (evt.detail.peerId.equals(b.node.peerId)) resolve(adm(a).isAdmitted(id(b))) })
      })
      const reply = await eager(b, a)
      assert.deepEqual(reply instanceof Error ? reply.message : [...reply], [1, 2, 3])
      await waitFor('both admitted', () => adm(a).isAdmitted(id(b)) && adm(b).isAdmitted(id(a)))
      assert.deepEqual(a.served, [id(b)])
      assert.equal(await identified, true, 'a identified b before admitting it')
    })

    for (const [name, ours, theirs, reasonOurs, reasonTheirs] of [
      ['another genesis', G1, G2, 'genesis_mismatch', 'genesis_mismatch'],
      ['no genesis', G1, undefined, 'peer_without_genesis', 'peer_has_genesis']
    ] as const) {
      it(`a peer with ${name} is refused on both sides and no stream reaches a handler`, async () => {
        const a = await make(ours)
        const outsider = await make(theirs)
        const reply = await eager(outsider, a)
        assert.ok(reply instanceof Error, 'the outsider got an echo')
        await waitFor('both refusals', () => adm(a).refusal(id(outsider)) !== undefined && adm(outsider).refusal(id(a)) !== undefined)
        assert.equal(adm(a).refusal(id(outsider))?.reason, reasonOurs)
        assert.equal(adm(outsider).refusal(id(a))?.reason, reasonTheirs)
        // Both ends: libp2p's dial hands back a connection still open on the
        // dialling side without asking the gater.
        await waitFor('connections closed', () => a.node.getConnections(outsider.node.peerId).length === 0 &&
          outsider.node.getConnections(a.node.peerId).length === 0)
        // Nothing reached a handler, either way; identify never told libp2p
        // the outsider's protocols (the peer store only notes the protocol ids
        // its streams negotiated before the gate refused them).
        assert.deepEqual(a.served, [])
        assert.deepEqual(outsider.served, [])
        const known = await a.node.peerStore.get(outsider.node.peerId).then(p => p.protocols, () => [])
        assert.ok(!known.some(p => p.includes('meshsub') || p.includes('kad')), `a learned ${known.join(',')}`)
        // The gater now denies it both ways.
        await assert.rejects(outsider.node.dial(a.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }))
        await assert.rejects(a.node.dial(outsider.node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }))
        assert.equal(a.node.getConnections(outsider.node.peerId).length, 0)
        assert.equal(adm(a).status().refused[0]?.reason, reasonOurs)
      })
    }

    it('gossip of a refused peer never reaches a topic validator; an admitted peer\'s does', async () => {
      const a = await make(G1)
      const friend = await make(G1)
      const outsider = await make(G2)
      const seen: string[] = []
      a.node.services.pubsub.topicValidators.set('t', async (peer) => { seen.push(peer.toString()); return TopicValidatorResult.Accept })
      for (const t of [a, friend, outsider]) t.node.services.pubsub.subscribe('t')
      await friend.node.dial(a.node.getMultiaddrs()[0])
      await outsider.node.dial(a.node.getMultiaddrs()[0]).catch(() => {})
      const deadline = Date.now() + 8_000
      while (!seen.includes(id(friend)) && Date.now() < deadline) {
        for (const t of [friend, outsider]) await t.node.services.pubsub.publish('t', new TextEncoder().encode(id(t))).catch(() => {})
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      assert.ok(seen.includes(id(friend)), 'the admitted peer\'s gossip arrived')
      assert.ok(!seen.includes(id(outsider)), 'the refused peer\'s gossip reached a validator')
      assert.ok(!a.node.services.pubsub.getPeers().some(p => p.equals(outsider.node.peerId)))
    })

    it('a libp2p node that does not speak the handshake is refused and reaches no handler', async () => {
      const a = await make(G1)
      const plain = await make('none')
      const reply = await eager(plain, a)
      assert.ok(reply instanceof Error)
      await waitFor('refusal', () => adm(a).refusal(id(plain)) !== undefined)
      assert.equal(adm(a).refusal(id(plain))?.reason, 'no_handshake')
      assert.deepEqual(a.served, [])
    })

    it('a peer held without a verdict is hung up on once limitedWaitMs has passed, not before', async () => {
      // No admission policy is ever attached: every verdict is held (limited), until the wait runs out.
      const a = await make(G1, { policyRequired: true, limitedWaitMs: 800 })
      const b = await make(G1)
      const t0 = Date.now()
      await b.node.dial(a.node.getMultiaddrs()[0])
      await waitFor('a holds the connection', () => a.node.getConnections(b.node.peerId).length > 0)
      await waitFor('a hangs up on the held peer', () => a.node.getConnections(b.node.peerId).length === 0, 10_000)
      const elapsed = Date.now() - t0
      assert.ok(elapsed >= 700, `hung up after ${elapsed} ms, before the 800 ms wait`)
      assert.ok(!adm(a).status().connected.some(c => c.peerId === id(b)))
      assert.deepEqual(a.served, [])
    })

    it('a middleware registered with libp2p runs once per stream (no handler pile-up)', async () => {
      const a = await make(G1)
      const b = await make(G1)
      let seen = 0
      a.node.use(ECHO, (stream: Stream, conn, next) => { seen++; next(stream, conn) })
      for (let i = 0; i < 3; i++) {
        const reply = await eager(b, a)
        assert.ok(!(reply instanceof Error), String(reply))
      }
      assert.equal(seen, 3)
      assert.equal(a.served.length, 3)
      // The pile-up itself: libp2p 3.3 appends the handler to the chain that
      // getMiddleware returns, so without a fresh array every stream would
      // also run the handlers of the streams before it. (A second run of the
      // echo handler fails to read and is not counted in `served` above.)
      const calls = new Map<Stream, number>()
      await a.node.handle(PILE, (stream) => { calls.set(stream, (calls.get(stream) ?? 0) + 1) })
      a.node.use(PILE, (stream: Stream, conn, next) => { next(stream, conn) })
      for (let i = 0; i < 3; i++) await (await b.node.dialProtocol(a.node.peerId, PILE)).close()
      await waitFor('three streams handled', () => calls.size === 3)
      // The handlers of one stream run in one chain of microtasks: all done by now.
      await new Promise(resolve => setImmediate(resolve))
      assert.deepEqual([...calls.values()], [1, 1, 1])
    })
  })
})
