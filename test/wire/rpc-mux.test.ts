import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'
import type { Connection, Stream } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { Registry } from 'prom-client'
import { MuxTransport, RPC_MUX_PROTOCOL } from '../../wire/rpc-mux.js'
import { decodeFrame, encodeFrame, FRAME_ERROR, FRAME_REQUEST, FRAME_RESPONSE, muxErrorName, MuxErrorCode, type MuxFrame } from '../../wire/rpc-mux-frame.js'
import { streamTransport, type HandleOptions, type RpcHost } from '../../wire/rpc.js'
import { MemoryNetwork, type MemoryHost } from '../helpers/memory-host.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const ECHO = '/test/echo/1.0.0'
const enc = new TextEncoder()
const dec = new TextDecoder()

/** A host whose dials are counted by protocol. */
function counted (host: MemoryHost): RpcHost & { dials: string[] } {
  const dials: string[] = []
  return {
    dials,
    dialProtocol: async (peer, protocols, options) => { dials.push([protocols].flat().join(',')); return await host.dialProtocol(peer, protocols, options) },
    handle: async (p, h) => { await host.handle(p, h) },
    unhandle: async (p) => { await host.unhandle(p) }
  }
}

async function until (cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

describe('request mux: many requests on one stream per peer', () => {
  let net: MemoryNetwork
  let a: MemoryHost
  let b: MemoryHost
  let client: MuxTransport
  let server: MuxTransport
  let errors: unknown[]
  let opts: HandleOptions
  const req = { timeoutMs: 2_000, maxBytes: 1024 }

  beforeEach(async () => {
    net = new MemoryNetwork()
    a = net.host(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
    b = net.host(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
    errors = []
    opts = { timeoutMs: 1_000, maxBytes: 1024, maxInboundStreams: 8, onError: (err) => { errors.push(err) } }
  })
  afterEach(async () => {
    await client?.close()
    await server?.close()
    a.stop()
    b.stop()
  })

  async function echoServer (o: Partial<HandleOptions> = {}): Promise<void> {
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, conn, reply) => { await reply(enc.encode(`${conn.remotePeer.toString().slice(-4)}:${dec.decode(body)}`)) }, { ...opts, ...o })
  }

  it('sends a hundred requests, some at once, over one stream and matches every answer to its request', async () => {
    await echoServer()
    const host = counted(a)
    client = new MuxTransport(host)
    const tail = a.peerId.toString().slice(-4)
    // At most maxInboundStreams (8) at once, as with a stream per request.
    const answers: string[] = []
    for (let i = 0; i < 96; i += 8) answers.push(...await Promise.all(Array.from({ length: 8 }, async (_, j) => dec.decode(await client.request(b.peerId, ECHO, enc.encode(`r${i + j}`), req)))))
    for (let i = 96; i < 100; i++) answers.push(dec.decode(await client.request(b.peerId, ECHO, enc.encode(`r${i}`), req)))
    expect(answers).to.deep.equal(Array.from({ length: 100 }, (_, i) => `${tail}:r${i}`))
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL])
  })

  it('answers out of order when handlers finish out of order', async () => {
    // Each handler waits for its own release; the test releases them last to first.
    const release = new Map<string, () => void>()
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, _c, reply) => {
      await new Promise<void>(resolve => { release.set(dec.decode(body), resolve) })
      await reply(body)
    }, opts)
    client = new MuxTransport(a)
    const finished: string[] = []
    const all = Promise.all(['0', '1', '2'].map(async (x) => { finished.push(dec.decode(await client.request(b.peerId, ECHO, enc.encode(x), req))) }))
    await until(() => release.size === 3)
    for (const x of ['2', '1', '0']) {
      release.get(x)?.()
      await until(() => finished.includes(x))
    }
    await all
    expect(finished).to.deep.equal(['2', '1', '0'])
  })

  it('falls back to a stream per request for a peer without the mux, and asks again only after legacyRetryMs', async () => {
    const old = streamTransport(b)
    await old.handle(ECHO, async (body, _c, reply) => { await reply(body) }, opts)
    const host = counted(a)
    const registry = new Registry()
    client = new MuxTransport(host, { legacyRetryMs: 200 }, { registry })
    for (let i = 0; i < 3; i++) expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode(`x${i}`), req))).to.equal(`x${i}`)
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL, ECHO, ECHO, ECHO])
    expect(await registry.metrics()).to.match(/mycel_rpc_mux_legacy_peers 1/)
    // After legacyRetryMs the peer is asked again (it may have been upgraded meanwhile).
    await new Promise(resolve => setTimeout(resolve, 250))
    await client.request(b.peerId, ECHO, enc.encode('later'), req)
    expect(host.dials.slice(4)).to.deep.equal([RPC_MUX_PROTOCOL, ECHO])
  })

  it('sends a request whose answer may be larger than a frame on a stream of its own, to the same handler', async () => {
    await echoServer()
    const host = counted(a)
    client = new MuxTransport(host, { maxFrameBytes: 256 })
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('big'), { timeoutMs: 2_000, maxBytes: 4096 }))).to.match(/:big$/)
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('small'), { timeoutMs: 2_000, maxBytes: 100 }))).to.match(/:small$/)
    expect(host.dials).to.deep.equal([ECHO, RPC_MUX_PROTOCOL])
  })

  it('fails a request for a protocol the peer does not handle with UnsupportedProtocolError, and keeps the session', async () => {
    await echoServer()
    const host = counted(a)
    const registry = new Registry()
    client = new MuxTransport(host, {}, { registry })
    await client.request(b.peerId, ECHO, enc.encode('1'), req)
    const err = await client.request(b.peerId, '/test/other/1.0.0', enc.encode('1'), req).catch(e => e)
    expect(err).to.have.property('name', 'UnsupportedProtocolError')
    await client.request(b.peerId, ECHO, enc.encode('2'), req)
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL])
    const text = await registry.metrics()
    expect(text).to.match(/mycel_rpc_mux_requests_total\{role="requester",result="ok"\} 2/)
    expect(text).to.match(/mycel_rpc_mux_requests_total\{role="requester",result="unsupported"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_sessions\{direction="outbound"\} 1/)
  })

  it('reports a handler that fails, answers late, answers twice or not at all, and the session goes on', async () => {
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, _c, reply) => {
      const what = dec.decode(body)
      if (what === 'throw') throw new Error('boom')
      if (what === 'late') { await new Promise(resolve => setTimeout(resolve, 300)); await reply(body); return }
      if (what === 'twice') { await reply(body); await reply(body); return }
      if (what === 'ok') await reply(body)
    }, { ...opts, timeoutMs: 100 })
    client = new MuxTransport(a)
    const outcome = async (what: string): Promise<string> => await client.request(b.peerId, ECHO, enc.encode(what), req).then(r => dec.decode(r), e => `${(e as Error).name}:${(e as { reason?: string }).reason ?? ''}`)
    expect(await outcome('throw')).to.equal('RemoteRequestError:failed')
    expect(await outcome('late')).to.equal('RemoteRequestError:timeout')
    expect(await outcome('twice')).to.equal('twice')
    expect(await outcome('none')).to.equal('RemoteRequestError:noResponse')
    expect(await outcome('ok')).to.equal('ok')
    await until(() => errors.length >= 3)
    expect(errors.map(e => (e as Error).name).sort()).to.deep.equal(['Error', 'LateAnswerError', 'TimeoutError'])
  })

  it('refuses more concurrent requests per protocol than maxInboundStreams with "busy"', async () => {
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, _c, reply) => { await gate; await reply(body) }, { ...opts, maxInboundStreams: 2 })
    client = new MuxTransport(a)
    const results = Array.from({ length: 3 }, async (_, i) => await client.request(b.peerId, ECHO, enc.encode(`${i}`), req).then(r => dec.decode(r), e => (e as { reason?: string }).reason))
    const third = await results[2]
    release()
    expect([await results[0], await results[1], third]).to.deep.equal(['0', '1', 'busy'])
  })

  it('gives up on its own deadline while the session stays usable, and drops the answer that comes after', async () => {
    server = new MuxTransport(b)
    let lateSent = false
    await server.handle(ECHO, async (body, _c, reply) => {
      const slow = dec.decode(body) === 'slow'
      if (slow) await new Promise(resolve => setTimeout(resolve, 200))
      await reply(body)
      if (slow) lateSent = true
    }, opts)
    const host = counted(a)
    client = new MuxTransport(host)
    const err = await client.request(b.peerId, ECHO, enc.encode('slow'), { timeoutMs: 50, maxBytes: 100 }).catch(e => e)
    expect(err).to.have.property('name', 'TimeoutError')
    // The late answer is on the wire before the next request goes out.
    await until(() => lateSent)
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('next'), req))).to.equal('next')
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL])
  })

  it('fails waiting requests when the peer goes away, and opens a new session once it is back', async () => {
    let entered = false
    server = new MuxTransport(b)
    await server.handle(ECHO, async () => { entered = true; await new Promise(resolve => setTimeout(resolve, 10_000)) }, { ...opts, timeoutMs: 20_000 })
    const host = counted(a)
    client = new MuxTransport(host)
    const waiting = client.request(b.peerId, ECHO, enc.encode('x'), { timeoutMs: 5_000, maxBytes: 100 }).catch(e => e)
    await until(() => entered)
    b.stop()
    expect(await waiting).to.be.instanceOf(Error).and.not.have.property('name', 'TimeoutError')
    await server.close()
    b = net.host(b.peerId.toString())
    await echoServer()
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('again'), req))).to.match(/:again$/)
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL, RPC_MUX_PROTOCOL])
  })

  it('after close() fails what waited, and a later request opens a new session', async () => {
    let holding = false
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, _c, reply) => { if (dec.decode(body) === 'hold') { holding = true; await new Promise(resolve => setTimeout(resolve, 500)) } await reply(body) }, opts)
    const host = counted(a)
    client = new MuxTransport(host)
    await client.request(b.peerId, ECHO, enc.encode('first'), req)
    const held = client.request(b.peerId, ECHO, enc.encode('hold'), req).catch(e => e)
    // The request is on the wire and its handler runs: close() must fail it, not a check before it was sent.
    await until(() => holding)
    await client.close()
    expect(await held).to.have.property('name', 'SessionClosedError')
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('again'), req))).to.equal('again')
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL, RPC_MUX_PROTOCOL])
  })

  it('rejects an answer larger than the request allows', async () => {
    server = new MuxTransport(b)
    await server.handle(ECHO, async (_b, _c, reply) => { await reply(new Uint8Array(500)) }, opts)
    client = new MuxTransport(a)
    const err = await client.request(b.peerId, ECHO, enc.encode('x'), { timeoutMs: 2_000, maxBytes: 100 }).catch(e => e)
    expect(err).to.have.property('name', 'OversizedMessageError')
  })

  it('closes a session that sends garbage, an oversized frame or an answer, and serves other sessions on', async () => {
    const registry = new Registry()
    server = new MuxTransport(b, {}, { registry })
    await server.handle(ECHO, async (body, _c, reply) => { await reply(body) }, opts)
    const hostile: Array<Uint8Array | Uint8ArrayList> = [
      new Uint8Array([3, 9, 9, 9]),
      new Uint8ArrayList(varint.encode(10_000_000), new Uint8Array(10)),
      new Uint8ArrayList(varint.encode(6), encodeFrame({ kind: FRAME_RESPONSE, id: 1, body: new Uint8Array(1) })),
      new Uint8ArrayList(varint.encode(6), new Uint8Array([9, 0, 0, 0, 1, 0]))
    ]
    for (const bytes of hostile) {
      const stream = await a.dialProtocol(b.peerId, RPC_MUX_PROTOCOL)
      const closed = new Promise(resolve => { stream.addEventListener('close', resolve, { once: true }) })
      stream.send(bytes)
      await closed
    }
    client = new MuxTransport(a)
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('fine'), req))).to.equal('fine')
    const text = await registry.metrics()
    expect(text).to.match(/mycel_rpc_mux_broken_sessions_total\{reason="malformed"\} 2/)
    expect(text).to.match(/mycel_rpc_mux_broken_sessions_total\{reason="oversized"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_broken_sessions_total\{reason="unexpected_frame"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_sessions\{direction="inbound"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_requests_total\{role="responder",result="ok"\} 1/)
  })

  it('a responder that sends garbage or a request breaks the session: the waiting request fails, it is counted, the next one opens a new session', async () => {
    const replies = [new Uint8Array([2, 7, 7]), new Uint8ArrayList(varint.encode(7), encodeFrame({ kind: FRAME_REQUEST, id: 1, protocol: 'x', body: new Uint8Array() }))]
    await b.handle(RPC_MUX_PROTOCOL, (stream) => { stream.addEventListener('message', () => { stream.send(replies.shift() ?? new Uint8Array()) }) })
    const registry = new Registry()
    const host = counted(a)
    client = new MuxTransport(host, {}, { registry })
    for (let i = 0; i < 2; i++) {
      const err = await client.request(b.peerId, ECHO, enc.encode('x'), req).catch(e => e)
      expect(err).to.have.property('name').that.is.oneOf(['MalformedMessageError', 'UnexpectedFrameError'])
    }
    expect(host.dials).to.deep.equal([RPC_MUX_PROTOCOL, RPC_MUX_PROTOCOL])
    const text = await registry.metrics()
    expect(text).to.match(/mycel_rpc_mux_broken_sessions_total\{reason="malformed"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_broken_sessions_total\{reason="unexpected_frame"\} 1/)
    expect(text).to.match(/mycel_rpc_mux_sessions\{direction="outbound"\} 0/)
  })

  it('a session whose stream was reset before it was handed over is not used: the request opens another', async () => {
    await echoServer()
    const registry = new Registry()
    let first = true
    const host: RpcHost = {
      // libp2p returns the stream after its peer-store write and the admission gate; a reset in between is missed by listeners.
      dialProtocol: async (peer, protocols, options) => {
        const stream = await a.dialProtocol(peer, protocols, options)
        if (first) { first = false; stream.abort(new Error('reset while it opened')) }
        return stream
      },
      handle: async (p, h) => { await a.handle(p, h) },
      unhandle: async (p) => { await a.unhandle(p) }
    }
    client = new MuxTransport(host, {}, { registry })
    expect(dec.decode(await client.request(b.peerId, ECHO, enc.encode('x'), req))).to.match(/:x$/)
    expect(await registry.metrics()).to.match(/mycel_rpc_mux_sessions\{direction="outbound"\} 1/)
  })

  it('answers every frame of a chunk larger than its buffer (several valid frames at once)', async () => {
    server = new MuxTransport(b)
    let ran = 0
    await server.handle(ECHO, async (_b, _c, reply) => { ran++; await reply(new Uint8Array(1)) }, { ...opts, maxBytes: 65_536 })
    const stream = await a.dialProtocol(b.peerId, RPC_MUX_PROTOCOL)
    let answers = 0
    stream.addEventListener('message', (evt) => { answers += evt.data.byteLength })
    const chunk = new Uint8ArrayList()
    for (let id = 1; id <= 4; id++) {
      const f = encodeFrame({ kind: FRAME_REQUEST, id, protocol: ECHO, body: new Uint8Array(50_000) })
      chunk.append(varint.encode(f.byteLength), f)
    }
    stream.send(chunk)
    await until(() => ran === 4 && answers === 4 * (1 + 6))
    expect(stream.status).to.equal('open')
  })

  it('a requester that floods requests and never reads the answers loses its session before it has sent 2 MB (real yamux flow control)', async () => {
    // Real yamux over an in-memory connection: the answers we cannot send pile up behind its flow control.
    const [outbound, inbound] = multiaddrConnectionPair()
    const attackerMux = yamux()().createStreamMuxer(outbound)
    const ourMux = yamux()().createStreamMuxer(inbound)
    let serveSession: ((stream: Stream, connection: Connection) => void) | undefined
    const host: RpcHost = { handle: async (_p, h) => { if (_p === RPC_MUX_PROTOCOL) serveSession = h as never }, unhandle: async () => {}, dialProtocol: async () => { throw new Error('not dialing') } }
    server = new MuxTransport(host)
    await server.handle(ECHO, async (body, _c, reply) => { await reply(body) }, opts)
    ourMux.addEventListener('stream', (evt) => { serveSession?.(evt.detail, { remotePeer: a.peerId } as unknown as Connection) })
    const stream = await attackerMux.createStream()
    const closed = new Promise(resolve => { stream.addEventListener('close', resolve, { once: true }) })
    stream.pause()
    let sent = 0
    try {
      while (stream.status === 'open' && stream.writeStatus === 'writable' && sent < 4_000_000) {
        const chunk = new Uint8ArrayList()
        for (let id = 0; id < 2000; id++) {
          const f = encodeFrame({ kind: FRAME_REQUEST, id, protocol: '/nobody/1.0.0', body: new Uint8Array() })
          chunk.append(varint.encode(f.byteLength), f)
        }
        sent += chunk.byteLength
        stream.send(chunk)
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      await Promise.race([closed, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`session still open after ${sent} bytes of requests`)) }, 10_000))])
      expect(sent).to.be.below(2_000_000)
    } finally {
      attackerMux.abort(new Error('test over'))
      ourMux.abort(new Error('test over'))
    }
  })

  it('a request over the limit is refused with "oversized" before its handler runs', async () => {
    let ran = 0
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, _c, reply) => { ran++; await reply(body) }, { ...opts, maxBytes: 10 })
    client = new MuxTransport(a)
    const err = await client.request(b.peerId, ECHO, new Uint8Array(20), req).catch(e => e)
    expect(err).to.have.property('name', 'OversizedMessageError')
    expect(ran).to.equal(0)
    expect(errors.map(e => (e as Error).name)).to.deep.equal(['OversizedMessageError'])
  })

  it('the handler sees the requesting peer as the connection\'s remote peer', async () => {
    let seen = ''
    server = new MuxTransport(b)
    await server.handle(ECHO, async (body, conn: Connection, reply) => { seen = conn.remotePeer.toString(); await reply(body) }, opts)
    client = new MuxTransport(a)
    await client.request(b.peerId, ECHO, enc.encode('x'), req)
    expect(seen).to.equal(a.peerId.toString())
  })
})

describe('request mux frames', () => {
  const frame = fc.oneof(
    fc.record({ kind: fc.constant(FRAME_REQUEST), id: fc.nat({ max: 0xffffffff }), protocol: fc.string({ minLength: 1, maxLength: 60 }), body: fc.uint8Array({ maxLength: 200 }) }),
    fc.record({ kind: fc.constant(FRAME_RESPONSE), id: fc.nat({ max: 0xffffffff }), body: fc.uint8Array({ maxLength: 200 }) }),
    fc.record({ kind: fc.constant(FRAME_ERROR), id: fc.nat({ max: 0xffffffff }), code: fc.nat({ max: 255 }) })
  ) as fc.Arbitrary<MuxFrame>

  it('what the encoder writes, the decoder reads back the same', () => {
    fc.assert(fc.property(frame, (f) => {
      const back = decodeFrame(encodeFrame(f))
      expect({ ...back, ...('body' in back ? { body: Array.from(back.body) } : {}) }).to.deep.equal({ ...f, ...('body' in f ? { body: Array.from(f.body) } : {}) })
    }), { numRuns: PROPERTY_RUNS })
  })

  it('any bytes decode to a frame or fail with MalformedMessageError, never another error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      try {
        decodeFrame(bytes)
      } catch (err) {
        expect(err).to.have.property('name', 'MalformedMessageError')
      }
    }), { numRuns: PROPERTY_RUNS })
  })

  it('an error code this version does not know reads as "failed"', () => {
    expect(muxErrorName(MuxErrorCode.busy)).to.equal('busy')
    expect(muxErrorName(200)).to.equal('failed')
  })

  it('the encoder refuses what it could not frame', () => {
    expect(() => encodeFrame({ kind: FRAME_REQUEST, id: 1, protocol: '', body: new Uint8Array() })).to.throw(RangeError)
    expect(() => encodeFrame({ kind: FRAME_REQUEST, id: 1, protocol: 'x'.repeat(256), body: new Uint8Array() })).to.throw(RangeError)
    expect(() => encodeFrame({ kind: FRAME_RESPONSE, id: -1, body: new Uint8Array() })).to.throw(RangeError)
  })
})
