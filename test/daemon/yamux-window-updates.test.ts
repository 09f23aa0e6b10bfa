/**
 * daemon/yamux-window-updates.ts against the real @libp2p/yamux over an
 * in-memory connection: no window update per small message, every byte of
 * any sequence of writes arrives in order (a sender that overran the window
 * would reset the stream), in both directions, and the opening SYN/ACK still
 * flow.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import type { Stream, StreamMuxer } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { YamuxStream } from '@libp2p/yamux/stream'
import { Uint8ArrayList } from 'uint8arraylist'
import { installYamuxWindowUpdateRule } from '../../daemon/yamux-window-updates.js'

/** yamux's frame types (spec): 0 data, 1 window update. */
const WINDOW_UPDATE = 1
const INITIAL_WINDOW = 256 * 1024

interface Pair { dialer: StreamMuxer, listener: StreamMuxer, sent: { dialer: number[], listener: number[] }, inbound: Promise<Stream> }

/** Two muxers over an in-memory connection, each counting the frame types it sends. */
function pair (): Pair {
  const [outbound, inbound] = multiaddrConnectionPair()
  const dialer = yamux()().createStreamMuxer(outbound)
  const listener = yamux()().createStreamMuxer(inbound)
  const sent = { dialer: [] as number[], listener: [] as number[] }
  for (const [mux, log] of [[dialer, sent.dialer], [listener, sent.listener]] as const) {
    // Streams bind the muxer's sendFrame when they are made, so this sees every frame.
    const m = mux as unknown as { sendFrame: (h: { type: number }, d?: unknown) => boolean }
    const original = m.sendFrame.bind(mux)
    m.sendFrame = (h, d) => { log.push(h.type); return original(h, d) }
  }
  const accepted = new Promise<Stream>(resolve => { listener.addEventListener('stream', (evt) => { resolve(evt.detail) }, { once: true }) })
  return { dialer, listener, sent, inbound: accepted }
}

/** Send every chunk, waiting for the stream to drain when it asks to. */
async function sendAll (stream: Stream, chunks: Uint8Array[]): Promise<void> {
  for (const c of chunks) {
    if (!stream.send(c)) await stream.onDrain()
  }
}

/** Read until `total` bytes have arrived; optionally pause between reads (a slow reader). */
async function readBytes (stream: Stream, total: number, pauseEvery = 0): Promise<Uint8Array> {
  const got = new Uint8ArrayList()
  let reads = 0
  for await (const buf of stream) {
    got.append(buf)
    if (pauseEvery > 0 && ++reads % pauseEvery === 0) await new Promise(resolve => setTimeout(resolve, 1))
    if (got.byteLength >= total) break
  }
  return got.subarray()
}

const filled = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

describe('yamux window updates (hashicorp/yamux rule)', () => {
  before(() => { installYamuxWindowUpdateRule() })

  it('is installed once on the library stream, and again is a no-op', () => {
    const first = (YamuxStream.prototype as unknown as { sendWindowUpdate: unknown }).sendWindowUpdate
    installYamuxWindowUpdateRule()
    assert.equal((YamuxStream.prototype as unknown as { sendWindowUpdate: unknown }).sendWindowUpdate, first)
  })

  it('answers 200 small messages with no window update beyond the stream opening (the library sent one per message)', async () => {
    const p = pair()
    const out = await p.dialer.createStream()
    const messages = Array.from({ length: 200 }, (_, i) => filled(100, i))
    const [, inbound] = await Promise.all([sendAll(out, messages), p.inbound])
    const got = await readBytes(inbound, 200 * 100)
    assert.equal(got.byteLength, 20_000)
    // The listener's only window update is the stream's ACK (at most one); the dialer's is its SYN.
    assert.ok(p.sent.listener.filter(t => t === WINDOW_UPDATE).length <= 1, `listener sent ${p.sent.listener.filter(t => t === WINDOW_UPDATE).length} window updates`)
    assert.equal(p.sent.dialer.filter(t => t === WINDOW_UPDATE).length, 1)
    await p.dialer.close(); await p.listener.close()
  })

  it('a transfer of many windows arrives whole, with an update per half window', async () => {
    const p = pair()
    const out = await p.dialer.createStream()
    const total = 4 * 1024 * 1024
    const data = filled(total, 7)
    const chunks: Uint8Array[] = []
    for (let off = 0; off < total; off += 16 * 1024) chunks.push(data.subarray(off, off + 16 * 1024))
    const [, got] = await Promise.all([sendAll(out, chunks), p.inbound.then(async s => await readBytes(s, total))])
    assert.equal(Buffer.compare(Buffer.from(got), Buffer.from(data)), 0)
    const updates = p.sent.listener.filter(t => t === WINDOW_UPDATE).length
    assert.ok(updates >= 2, `${updates} window updates for 4 MiB through a 256 KiB window`)
    assert.ok(updates <= 1 + Math.ceil(total / (INITIAL_WINDOW / 2)), `${updates} window updates`)
    await p.dialer.close(); await p.listener.close()
  })

  it('any writes in both directions arrive in order and whole, with at most one update per half window (property)', async () => {
    const sizes = fc.array(fc.integer({ min: 1, max: 300 * 1024 }), { minLength: 1, maxLength: 8 })
    await fc.assert(fc.asyncProperty(sizes, sizes, fc.integer({ min: 0, max: 3 }), async (there, back, pauseEvery) => {
      const p = pair()
      const out = await p.dialer.createStream()
      const a = there.map((n, i) => filled(n, i))
      const b = back.map((n, i) => filled(n, 100 + i))
      const totalA = there.reduce((x, y) => x + y, 0)
      const totalB = back.reduce((x, y) => x + y, 0)
      const [, , gotA, gotB] = await Promise.all([
        sendAll(out, a),
        p.inbound.then(async s => { await sendAll(s, b) }),
        p.inbound.then(async s => await readBytes(s, totalA, pauseEvery)),
        readBytes(out, totalB, pauseEvery)
      ])
      assert.equal(Buffer.compare(Buffer.from(gotA), Buffer.concat(a)), 0)
      assert.equal(Buffer.compare(Buffer.from(gotB), Buffer.concat(b)), 0)
      const bound = (total: number): number => 2 + Math.ceil(total / (INITIAL_WINDOW / 2))
      assert.ok(p.sent.listener.filter(t => t === WINDOW_UPDATE).length <= bound(totalA))
      assert.ok(p.sent.dialer.filter(t => t === WINDOW_UPDATE).length <= bound(totalB))
      await p.dialer.close(); await p.listener.close()
    }), { numRuns: 25 })
  })
})
