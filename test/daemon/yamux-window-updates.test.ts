/**
 * daemon/yamux-window-updates.ts against the real @libp2p/yamux over an
 * in-memory connection: no window update per small message, one once half
 * the window is used, the opening ACK at once, a paused reader that resumes
 * loses nothing and stalls nothing, a busy stream over a slow link still
 * grows its window, and every byte of any sequence of writes arrives in
 * order (a sender that overran the window would have its stream reset).
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import type { Stream, StreamMuxer } from '@libp2p/interface'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { yamux } from '@libp2p/yamux'
import { YamuxStream } from '@libp2p/yamux/stream'
import { Uint8ArrayList } from 'uint8arraylist'
import { waitFor } from '../../harness/agent-process.js'
import { hasWindowFields, installYamuxWindowUpdateRule, mayOmitUpdate, type WindowFields } from '../../daemon/yamux-window-updates.js'

/** yamux's frame types and flags (spec): type 1 is a window update; flag 2 is ACK. */
const WINDOW_UPDATE = 1
const ACK = 2
const INITIAL_WINDOW = 256 * 1024

interface Frame { type: number, flag: number }
interface Pair { dialer: StreamMuxer, listener: StreamMuxer, sent: { dialer: Frame[], listener: Frame[] }, inbound: Promise<Stream> }

/** Two muxers over an in-memory connection (each direction delayed by `latencyMs`), each logging the frames it sends. */
function pair (latencyMs = 0): Pair {
  const [outbound, inbound] = multiaddrConnectionPair()
  if (latencyMs > 0) {
    for (const c of [outbound, inbound] as unknown as Array<{ local: EventTarget & { send: (e: Event) => boolean } }>) {
      c.local.send = (evt) => { setTimeout(() => c.local.dispatchEvent(evt), latencyMs); return true }
    }
  }
  const dialer = yamux()().createStreamMuxer(outbound)
  const listener = yamux()().createStreamMuxer(inbound)
  const sent = { dialer: [] as Frame[], listener: [] as Frame[] }
  for (const [mux, log] of [[dialer, sent.dialer], [listener, sent.listener]] as const) {
    // Streams bind the muxer's sendFrame when they are made, so this sees every frame.
    const m = mux as unknown as { sendFrame: (h: Frame, d?: unknown) => boolean }
    const original = m.sendFrame.bind(mux)
    m.sendFrame = (h, d) => { log.push({ type: h.type, flag: h.flag }); return original(h, d) }
  }
  const accepted = new Promise<Stream>(resolve => { listener.addEventListener('stream', (evt) => { resolve(evt.detail) }, { once: true }) })
  return { dialer, listener, sent, inbound: accepted }
}

/** Tear both ends down at once: a graceful close of one muxer after the other's can wait forever in memory. */
function done (p: Pair): void {
  p.dialer.abort(new Error('test over'))
  p.listener.abort(new Error('test over'))
}

const updates = (frames: Frame[]): Frame[] => frames.filter(f => f.type === WINDOW_UPDATE)
/** Window updates that only give back credit (no SYN/ACK/FIN/RST). */
const plainUpdates = (frames: Frame[]): number => updates(frames).filter(f => f.flag === 0).length
const fields = (s: Stream): WindowFields => s as unknown as WindowFields

/** Send every chunk, waiting for the stream to drain when it asks to. */
async function sendAll (stream: Stream, chunks: Uint8Array[]): Promise<void> {
  for (const c of chunks) {
    if (!stream.send(c)) await stream.onDrain()
  }
}

/** Read until `total` bytes have arrived. */
async function readBytes (stream: Stream, total: number): Promise<Uint8Array> {
  const got = new Uint8ArrayList()
  for await (const buf of stream) {
    got.append(buf)
    if (got.byteLength >= total) break
  }
  return got.subarray()
}

/** Counts the bytes a stream delivers through 'message' events; `until(n)` resolves once n have arrived, or fails after `ms`. */
function counter (stream: Stream): { bytes: () => number, until: (n: number, ms?: number) => Promise<void> } {
  let bytes = 0
  const waiters: Array<{ n: number, resolve: () => void }> = []
  stream.addEventListener('message', (evt) => {
    bytes += evt.data.byteLength
    for (const w of waiters.filter(w => bytes >= w.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
  })
  return {
    bytes: () => bytes,
    until: async (n, ms = 10_000) => {
      if (bytes >= n) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`stalled: ${bytes} of ${n} bytes after ${ms} ms`)) }, ms)
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
      })
    }
  }
}

/** A pair with one stream open: its first byte has arrived at the listener, whose deliveries `got` counts. */
async function opened (prepare?: (inbound: Stream) => void): Promise<{ p: Pair, out: Stream, inbound: Stream, got: ReturnType<typeof counter> }> {
  const p = pair()
  const out = await p.dialer.createStream()
  out.send(filled(1, 3))
  const inbound = await p.inbound
  prepare?.(inbound)
  const got = counter(inbound)
  await got.until(1)
  return { p, out, inbound, got }
}

const filled = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)
const chunked = (total: number, size: number, seed = 0): Uint8Array[] =>
  Array.from({ length: Math.ceil(total / size) }, (_, i) => filled(Math.min(size, total - i * size), seed + i))

describe('yamux window updates (hashicorp/yamux rule)', () => {
  before(() => { installYamuxWindowUpdateRule() })

  it('is installed once on the library stream, and again is a no-op', () => {
    const first = (YamuxStream.prototype as unknown as { sendWindowUpdate: unknown }).sendWindowUpdate
    installYamuxWindowUpdateRule()
    assert.equal((YamuxStream.prototype as unknown as { sendWindowUpdate: unknown }).sendWindowUpdate, first)
  })

  it('real streams, both ends, have every field the rule reads', async () => {
    const p = pair()
    const out = await p.dialer.createStream()
    out.send(filled(10, 1))
    const inbound = await p.inbound
    assert.ok(hasWindowFields(fields(out)), 'outbound stream')
    assert.ok(hasWindowFields(fields(inbound)), 'inbound stream')
    assert.ok(!hasWindowFields({ ...fields(inbound), epochStart: undefined } as unknown as WindowFields))
    done(p)
  })

  it('answers 200 small messages with no window update beyond the opening ACK (the library sent 13 here)', async () => {
    const p = pair()
    const out = await p.dialer.createStream()
    const [, inbound] = await Promise.all([sendAll(out, chunked(20_000, 100)), p.inbound])
    assert.equal((await readBytes(inbound, 20_000)).byteLength, 20_000)
    assert.equal(plainUpdates(p.sent.listener), 0)
    assert.deepEqual(updates(p.sent.listener).map(f => f.flag), [ACK])
    assert.equal(updates(p.sent.dialer).length, 1, 'the SYN')
    done(p)
  })

  it('sends the ACK with its first update, after the first message, not once half the window is used', async () => {
    const p = pair()
    const out = await p.dialer.createStream()
    out.send(filled(100, 2))
    const inbound = await p.inbound
    await readBytes(inbound, 100)
    await waitFor(() => updates(p.sent.listener).length > 0, 5000, 'the ACK', 5)
    assert.equal(updates(p.sent.listener)[0].flag & ACK, ACK)
    done(p)
  })

  it('gives credit back once half the window is used, and not before', async () => {
    // No growth on this link: the rule's plain half-window threshold (the growing case has its own test).
    const { p, out, got } = await opened(inbound => { fields(inbound).getRTT = () => -1 })
    await sendAll(out, chunked(120 * 1024, 10 * 1024))
    await got.until(1 + 120 * 1024)
    assert.equal(plainUpdates(p.sent.listener), 0, 'below half the window')
    await sendAll(out, chunked(20 * 1024, 10 * 1024))
    await got.until(1 + 140 * 1024)
    assert.equal(plainUpdates(p.sent.listener), 1, 'past half the window')
    done(p)
  })

  it('a paused reader holds the sender at its window; on resume everything arrives', async () => {
    const { p, out, inbound, got } = await opened()
    inbound.pause()
    const total = 3 * INITIAL_WINDOW
    const sending = sendAll(out, chunked(total, 16 * 1024))
    await waitFor(() => (out as unknown as { sendWindowCapacity: number }).sendWindowCapacity === 0, 5000, 'the sender to use up its window', 5)
    inbound.resume()
    await got.until(1 + total)
    await sending
    done(p)
  })

  it('a reader that pauses and resumes with less than half the window used does not stall the next megabyte', async () => {
    const { p, out, inbound, got } = await opened()
    inbound.pause()
    await sendAll(out, chunked(100_000, 10_000))
    inbound.resume()
    await got.until(1 + 100_000)
    await sendAll(out, chunked(1 << 20, 32 * 1024))
    await got.until(1 + 100_000 + (1 << 20))
    done(p)
  })

  it('a busy fresh stream over a slow link still grows its window', async () => {
    const p = pair(10)
    const rtt = (m: StreamMuxer): number => (m as unknown as { getRTT: () => number }).getRTT()
    await waitFor(() => rtt(p.dialer) > 0 && rtt(p.listener) > 0, 5000, 'both muxers to measure the round trip', 5)
    const out = await p.dialer.createStream()
    const total = 8 << 20
    const [, inbound] = await Promise.all([sendAll(out, chunked(total, 64 * 1024)), p.inbound])
    await readBytes(inbound, total)
    // Half-window updates alone leave it at 256-512 KiB; the library's per-frame updates reach its 16 MiB maximum.
    assert.ok(fields(inbound).recvWindow >= 2 << 20, `window ${fields(inbound).recvWindow >> 10} KiB after 8 MiB`)
    done(p)
  })

  it('omits only flagless updates below half the window, or an eighth while the window grows (property over window states)', () => {
    const states = fc.constantFrom(0, 1, 2, 3, 4)
    const max = 16 << 20
    fc.assert(fc.property(states, fc.integer({ min: 8, max }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: -1, max: 100 }), fc.integer({ min: 0, max: 1000 }),
      (state, window, usedPerMille, rtt, age) => {
        const s = { state, recvWindow: window, recvWindowCapacity: window - Math.floor(window * usedPerMille / 1000), maxStreamWindowSize: max, epochStart: 0, getRTT: () => rtt, sendWindowUpdate: () => {} }
        const omit = mayOmitUpdate(s as unknown as WindowFields, age)
        const used = window - s.recvWindowCapacity
        // The library's own condition for growing the window: used within four round trips, below its maximum.
        const growing = rtt > -1 && window < max && age <= 4 * rtt
        // Init (0) and SYNReceived (2) carry SYN/ACK: never omitted. Half used: never omitted.
        if (state === 0 || state === 2 || used >= window / 2) assert.equal(omit, false)
        else if (used < window / 8) assert.equal(omit, true)
        // Between an eighth and half: sent while growing (so growth keeps pace), omitted otherwise.
        else assert.equal(omit, !growing, `used ${used} of ${window}, growing ${String(growing)}`)
      }), { numRuns: 2000 })
  })

  it('any writes in both directions arrive in order and whole, with at most one update per eighth of a window (property)', async () => {
    const sizes = fc.array(fc.integer({ min: 1, max: 300 * 1024 }), { minLength: 1, maxLength: 8 })
    await fc.assert(fc.asyncProperty(sizes, sizes, async (there, back) => {
      const p = pair()
      const out = await p.dialer.createStream()
      const a = there.map((n, i) => filled(n, i))
      const b = back.map((n, i) => filled(n, 100 + i))
      const totalA = there.reduce((x, y) => x + y, 0)
      const totalB = back.reduce((x, y) => x + y, 0)
      const [, , gotA, gotB] = await Promise.all([
        sendAll(out, a),
        p.inbound.then(async s => { await sendAll(s, b) }),
        p.inbound.then(async s => await readBytes(s, totalA)),
        readBytes(out, totalB)
      ])
      assert.equal(Buffer.compare(Buffer.from(gotA), Buffer.concat(a)), 0)
      assert.equal(Buffer.compare(Buffer.from(gotB), Buffer.concat(b)), 0)
      const bound = (total: number): number => 2 + Math.ceil(total / (INITIAL_WINDOW / 8))
      assert.ok(updates(p.sent.listener).length <= bound(totalA))
      assert.ok(updates(p.sent.dialer).length <= bound(totalB))
      done(p)
    }), { numRuns: 25 })
  })
})
