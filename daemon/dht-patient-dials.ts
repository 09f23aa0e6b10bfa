/**
 * kad-dht's dials, made patient.
 *
 * kad-dht (16.x) opens every request stream with the request's own deadline
 * (an adaptive timeout, at least 5 s, joined with the query's signal), and
 * that deadline also bounds the dial when the node holds no connection to
 * the peer. A query that ends, or a request that times out, therefore aborts
 * the Noise handshakes it still has in flight, on both ends, after they have
 * cost most of their CPU. On a loaded host, where a handshake takes seconds,
 * that is most of them: in a forming `join-100` (75 agents, 170 s) 2,115 of
 * 3,062 outbound dials failed in the Noise handshake, and kad-dht's requests
 * failed 2,183 times (docs/performance.md, seventeenth pass). Each retry
 * dialed again, into the same load.
 *
 * Membership solved the same problem for probes (protocols/membership
 * connections.ts `connectPatiently`): the wait ends at the deadline, the dial
 * does not. This seam gives kad-dht a connection manager whose `openStream`
 * does the same when it has to dial: the dial runs to libp2p's own dial
 * timeout (`dialTimeoutMs`) whatever the request's signal does, so a handshake
 * that finishes late leaves a connection for the next request to that peer
 * (lease keys are asked of the same closest peers again and again) instead of
 * CPU thrown away on both ends. The connection trimmer closes it if nothing
 * uses it. Opening the stream itself still honours the request's signal.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'

/** What of libp2p's connection manager kad-dht's network calls. */
export interface StreamOpener {
  getConnections: (peer?: PeerId) => Connection[]
  openConnection: (peer: PeerId, options?: { priority?: number }) => Promise<Connection>
  openStream: (peer: PeerId, protocol: string | string[], options?: StreamOptions) => Promise<Stream>
}

export interface StreamOptions {
  signal?: AbortSignal
  priority?: number
  [key: string]: unknown
}

/**
 * `openStream` as libp2p's, except that a dial it has to make is not tied to
 * `options.signal`: the wait for it is, and a dial outliving its wait is
 * left to finish (its failure then is nobody's to report).
 */
export async function openStreamPatiently (cm: StreamOpener, peer: PeerId, protocol: string | string[], options: StreamOptions = {}): Promise<Stream> {
  if (!isPeerId(peer) || cm.getConnections(peer).some(c => c.status === 'open')) return await cm.openStream(peer, protocol, options)
  options.signal?.throwIfAborted()
  const dial = cm.openConnection(peer, options.priority !== undefined ? { priority: options.priority } : {})
  const conn = await untilAborted(dial, options.signal)
  return await conn.newStream(protocol, options)
}

/** `promise`, unless `signal` aborts first; a promise abandoned that way settles unobserved. */
async function untilAborted<T> (promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await promise
  promise.catch(() => {})
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

function isPeerId (peer: unknown): peer is PeerId {
  return typeof (peer as PeerId | undefined)?.toMultihash === 'function'
}

/**
 * A kad-dht factory whose components hand it a connection manager with
 * patient dials (above). Everything else of the components, and of the
 * connection manager, is libp2p's own.
 */
export function withPatientDials<C extends { connectionManager: unknown }, T> (factory: (components: C) => T): (components: C) => T {
  return (components) => {
    let patient: unknown
    const wrapped = new Proxy(components, {
      get: (target, prop, receiver) => {
        if (prop !== 'connectionManager') return Reflect.get(target, prop, receiver)
        const cm = target.connectionManager as StreamOpener
        patient ??= new Proxy(cm, {
          get: (t, p) => {
            if (p === 'openStream') return async (peer: PeerId, protocol: string | string[], options?: StreamOptions) => await openStreamPatiently(t, peer, protocol, options)
            const v = Reflect.get(t, p) as unknown
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
          }
        })
        return patient
      }
    })
    return factory(wrapped)
  }
}
