/**
 * One socket write per connection per turn of the event loop.
 *
 * `@libp2p/tcp` (11.0) calls `socket.write` once for every chunk it is
 * handed, and Noise hands it every packet as two chunks: the 2-byte length
 * and the ciphertext. The socket has TCP_NODELAY, so each chunk was its own
 * `write(2)` and its own TCP segment, and the receiver woke once for the
 * length and once more for the packet (measured with `strace` on an agent of
 * 30: about 100 socket writes a second for 38 Noise packets). Writes to one
 * socket within one turn — the two halves of a packet, a yamux window update
 * next to data, a message forwarded while the previous one is still being
 * written — are now held with `socket.cork()` and leave as one `writev(2)`
 * when `process.nextTick` uncorks, the batching Node documents for
 * `writable.cork()`. Nothing waits longer than the current turn; `end()`
 * (libp2p's graceful close) flushes corked data first, and a reset discards
 * it as it discards any unsent data.
 *
 * The seam is the first layer that receives the raw connection: the
 * connection protector (a private network) or else the connection
 * encrypter. Only connections backed by a `net.Socket` are changed; the
 * `socket` field is @libp2p/tcp's own (`TCPSocketMultiaddrConnection`), and
 * anything without it passes through untouched. Upstream, the fix belongs
 * in @libp2p/tcp's `sendData`.
 */
import { Socket } from 'node:net'
import type { ConnectionEncrypter, ConnectionProtector, MessageStream } from '@libp2p/interface'

interface SocketBacked {
  socket?: unknown
  sendData?: (data: unknown) => unknown
}

const coalesced = new WeakSet<object>()

/**
 * Make `conn`'s writes within one event-loop turn leave as one socket write.
 * Returns whether `conn` was changed (false: not socket-backed, or already done).
 */
export function coalesceWrites (conn: MessageStream): boolean {
  const c = conn as unknown as SocketBacked
  const socket = c.socket
  const sendData = c.sendData
  if (!(socket instanceof Socket) || typeof sendData !== 'function' || coalesced.has(conn)) return false
  coalesced.add(conn)
  const uncork = (): void => { socket.uncork() }
  c.sendData = (data: unknown): unknown => {
    if (socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork()
      process.nextTick(uncork)
    }
    return sendData.call(conn, data)
  }
  return true
}

/**
 * `inner` with `methods` (each taking the raw connection first) coalescing
 * that connection's writes before they run; everything else is `inner`'s.
 */
function coalescingOn<T extends object> (inner: T, methods: Array<keyof T & string>): T {
  const outer = Object.create(inner) as Record<string, unknown>
  for (const name of methods) {
    const method = inner[name] as (conn: MessageStream, ...rest: unknown[]) => Promise<unknown>
    outer[name] = async (conn: MessageStream, ...rest: unknown[]) => {
      coalesceWrites(conn)
      return await method.call(inner, conn, ...rest)
    }
  }
  return outer as T
}

/** `factory`'s encrypter, coalescing the writes of each connection it secures. */
export function coalescingEncrypter<C, E> (factory: (components: C) => ConnectionEncrypter<E>): (components: C) => ConnectionEncrypter<E> {
  return (components) => coalescingOn(factory(components), ['secureInbound', 'secureOutbound'])
}

/** `factory`'s protector, coalescing the writes of each connection it protects. */
export function coalescingProtector<C> (factory: (components: C) => ConnectionProtector): (components: C) => ConnectionProtector {
  return (components) => coalescingOn(factory(components), ['protect'])
}
