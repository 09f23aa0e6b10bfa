/**
 * Socket writes batched per event-loop turn (daemon/coalesce-writes.ts), on
 * @libp2p/tcp's own connections over a real loopback socket: the upgrader is
 * the only stand-in, so a release of @libp2p/tcp that renames its socket
 * field or stops writing chunk by chunk shows up here.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { tcp } from '@libp2p/tcp'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import type { MessageStream } from '@libp2p/interface'
import { coalesceWrites } from '../../daemon/coalesce-writes.js'

interface Pair { outbound: MessageStream, inbound: MessageStream, close: () => Promise<void> }

async function connect (): Promise<Pair> {
  const transport = tcp()({ logger: defaultLogger() } as never) as unknown as {
    createListener: (o: unknown) => { listen: (ma: unknown) => Promise<void>, getAddrs: () => Array<ReturnType<typeof multiaddr>>, close: () => Promise<void> }
    dial: (ma: unknown, o: unknown) => Promise<MessageStream>
  }
  let resolveInbound!: (c: MessageStream) => void
  const inbound = new Promise<MessageStream>(resolve => { resolveInbound = resolve })
  const listener = transport.createListener({ upgrader: { upgradeInbound: async (c: MessageStream) => { resolveInbound(c) } } })
  await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
  const outbound = await transport.dial(listener.getAddrs()[0], { upgrader: { upgradeOutbound: async (c: MessageStream) => c }, signal: AbortSignal.timeout(5_000) })
  const inb = await inbound
  return {
    outbound,
    inbound: inb,
    close: async () => { outbound.abort(new Error('done')); inb.abort(new Error('done')); await listener.close() }
  }
}

/** Counts the socket's trips to the kernel (Writable's _write / _writev). */
function countWrites (conn: MessageStream): { calls: number } {
  const socket = (conn as unknown as { socket: Socket & { _write: (...a: unknown[]) => void, _writev: (...a: unknown[]) => void } }).socket
  const n = { calls: 0 }
  const w = socket._write.bind(socket); const wv = socket._writev.bind(socket)
  socket._write = (...a: unknown[]) => { n.calls++; w(...a) }
  socket._writev = (...a: unknown[]) => { n.calls++; wv(...a) }
  return n
}

interface Received {
  bytes: Uint8ArrayList
  /** Resolves once `n` bytes in all have arrived (rejects after 5 s). */
  total: (n: number) => Promise<void>
}

function received (conn: MessageStream): Received {
  const bytes = new Uint8ArrayList()
  const waiting: Array<{ n: number, resolve: () => void }> = []
  conn.addEventListener('message', (evt) => {
    bytes.append((evt as unknown as { data: Uint8Array | Uint8ArrayList }).data)
    for (const w of waiting.filter(w => bytes.byteLength >= w.n)) { waiting.splice(waiting.indexOf(w), 1); w.resolve() }
  })
  return {
    bytes,
    total: async (n) => {
      if (bytes.byteLength >= n) return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${bytes.byteLength} of ${n} bytes arrived`)) }, 5_000)
        waiting.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
      })
    }
  }
}

/** Three packets as Noise hands them over: a 2-byte length, then the body. */
function packets (): { frames: Uint8ArrayList[], bytes: Uint8Array } {
  const frames: Uint8ArrayList[] = []
  for (let i = 0; i < 3; i++) frames.push(new Uint8ArrayList(Uint8Array.of(0, 100), new Uint8Array(100).fill(i + 1)))
  return { frames, bytes: new Uint8ArrayList(...frames).subarray() }
}

describe('coalesceWrites', () => {
  it('@libp2p/tcp by itself makes one socket write per chunk (what the batching is for)', async () => {
    const p = await connect()
    try {
      const writes = countWrites(p.outbound)
      const got = received(p.inbound)
      const { frames, bytes } = packets()
      for (const f of frames) p.outbound.send(f)
      await got.total(bytes.byteLength)
      assert.ok(writes.calls >= 6, `expected a write per chunk, saw ${writes.calls}`)
      assert.deepEqual(Uint8Array.from(got.bytes.subarray()), bytes)
    } finally { await p.close() }
  })

  it('sends every chunk written in one turn with one socket write, in order', async () => {
    const p = await connect()
    try {
      assert.equal(coalesceWrites(p.outbound), true)
      assert.equal(coalesceWrites(p.outbound), false, 'a second wrap would cork twice')
      const writes = countWrites(p.outbound)
      const got = received(p.inbound)
      const { frames, bytes } = packets()
      for (const f of frames) p.outbound.send(f)
      assert.equal(writes.calls, 0, 'nothing leaves before the turn ends')
      await got.total(bytes.byteLength)
      assert.equal(writes.calls, 1)
      assert.deepEqual(Uint8Array.from(got.bytes.subarray()), bytes)
      // The next turn's writes are a new batch, not held back by the last.
      p.outbound.send(frames[0])
      await got.total(bytes.byteLength + 102)
      assert.equal(writes.calls, 2)
    } finally { await p.close() }
  })

  it('a graceful close sends what was written in the same turn first', async () => {
    const p = await connect()
    try {
      coalesceWrites(p.outbound)
      const got = received(p.inbound)
      const { frames, bytes } = packets()
      for (const f of frames) p.outbound.send(f)
      await p.outbound.close()
      await got.total(bytes.byteLength)
      assert.deepEqual(Uint8Array.from(got.bytes.subarray()), bytes)
    } finally { await p.close() }
  })

  it('leaves a connection without a socket alone', () => {
    const conn = { sendData: () => ({ sentBytes: 0, canSendMore: true }) }
    assert.equal(coalesceWrites(conn as unknown as MessageStream), false)
  })
})
