/**
 * A dial runs to its own deadline, not to that of whoever asked first.
 *
 * libp2p's dial queue gives a dial the asker's abort signal in place of the
 * dial timeout: a kad-dht request (its adaptive timeout, 5 s at least), a
 * lease pull or a DHT read that gives up aborts the TCP connection and the
 * Noise handshake under way, whose CPU both ends have paid, and the next
 * request to that peer starts another. On a host that is merely slow this is
 * the worst trade. (While 100 agents formed on two cores, four outbound dials
 * in five failed in the handshake, 4,747 of 6,259 in two minutes. Most failed
 * even with the whole budget: of the dials that outlived their asker, 116–197
 * connected and 1,253–2,044 did not; docs/performance.md, nineteenth pass.
 * This removes only the part an impatient asker caused.)
 *
 * So every dial gets the profile's whole `dialTimeoutMs` (or the asker's
 * deadline, if that is later): the asker still stops waiting when its own
 * signal aborts, but the dial goes on, and a connection it makes is there for
 * the next request to that peer. libp2p merges later dials to the same peer
 * into the one in flight, so a peer has one such dial at most; a connection
 * nobody uses is closed by the trimmer (conn-trimmer.ts) like any other.
 * Membership's probes did this already for their own dials
 * (`connectPatiently`, protocols/membership/connections.ts); this makes it
 * hold for kad-dht and every other caller.
 *
 * An open connection still answers at once (libp2p looks for it before it
 * queues a dial), and stopping the node aborts every dial (the dial queue's
 * own shutdown signal).
 */
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type Target = PeerId | Multiaddr | Multiaddr[]
type OpenOptions = AbortOptions & { force?: boolean } & Record<string, unknown>

/** The part of libp2p's connection manager this wraps. */
export interface ConnectionOpener {
  openConnection: (peer: Target, options?: OpenOptions) => Promise<Connection>
}

export interface PatientDialsInit {
  /** A dial's own deadline, ms (the profile's `dialTimeoutMs`). */
  dialTimeoutMs: number
  /** A dial outlived its asker, and how it ended. */
  onOutlived?: (result: 'connected' | 'failed') => void
}

/**
 * A signal that aborts once both `asker` has aborted and `ms` have passed:
 * the later of the two deadlines. `clear` drops the timer and the listener.
 */
function laterOf (asker: AbortSignal, ms: number): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  let timedOut = false
  const onAbort = (): void => { if (timedOut) controller.abort(asker.reason) }
  const timer = setTimeout(() => {
    timedOut = true
    if (asker.aborted) controller.abort(new DOMException(`dial timed out after ${ms} ms`, 'TimeoutError'))
  }, ms)
  asker.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    clear: () => { clearTimeout(timer); asker.removeEventListener('abort', onAbort) }
  }
}

/**
 * Wraps `cm.openConnection` in place (every libp2p path to a new connection
 * goes through it: `dial`, `dialProtocol`, `openStream`, kad-dht's requests).
 * Returns a function that puts the original back.
 */
export function patientDials (cm: ConnectionOpener, init: PatientDialsInit): () => void {
  const original = cm.openConnection
  cm.openConnection = async (peer: Target, options: OpenOptions = {}): Promise<Connection> => {
    const asker = options.signal
    if (asker === undefined) return await original.call(cm, peer, options)
    asker.throwIfAborted()
    const deadline = laterOf(asker, init.dialTimeoutMs)
    const dial = original.call(cm, peer, { ...options, signal: deadline.signal })
    let outlived = false
    void dial.then(
      () => { if (outlived) init.onOutlived?.('connected') },
      () => { if (outlived) init.onOutlived?.('failed') }
    ).finally(deadline.clear)
    return await new Promise<Connection>((resolve, reject) => {
      const onAbort = (): void => { outlived = true; reject(asker.reason) }
      asker.addEventListener('abort', onAbort, { once: true })
      dial.then(resolve, reject).finally(() => { asker.removeEventListener('abort', onAbort) })
    })
  }
  return () => { cm.openConnection = original }
}
