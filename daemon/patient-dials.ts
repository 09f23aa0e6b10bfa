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
import { isPeerId, type AbortOptions, type Connection, type PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type Target = PeerId | Multiaddr | Multiaddr[]
type OpenOptions = AbortOptions & { force?: boolean, onProgress?: (evt: Event) => void } & Record<string, unknown>

/** The part of libp2p's connection manager this wraps. */
export interface ConnectionOpener {
  openConnection: (peer: Target, options?: OpenOptions) => Promise<Connection>
  getConnections: (peer?: PeerId) => Connection[]
}

export interface PatientDialsInit {
  /** A dial's own deadline, ms (the profile's `dialTimeoutMs`). */
  dialTimeoutMs: number
  /**
   * An asker gave up on a dial under way, which went on, and how that dial
   * ended. Counts askers whose call made the dial (one that joined a dial in
   * flight, libp2p merging dials to a peer, is not counted).
   */
  onOutlived?: (result: 'connected' | 'failed') => void
}

/** libp2p's progress event when a queued dial gets one of the `maxParallelDials` slots. */
const DIAL_STARTED = 'dial-queue:start-dial'

/**
 * The deadline of a dial made for `asker`: the later of the asker's abort
 * and `ms`. A dial still waiting in the queue when its asker gives up is
 * dropped at once: it has cost nothing yet, and held for nobody it would
 * later take a slot from dials someone waits for. `clear` drops the timer
 * and the listener.
 */
export function dialDeadline (asker: AbortSignal, ms: number): { signal: AbortSignal, started: () => void, running: () => boolean, clear: () => void } {
  const controller = new AbortController()
  let timedOut = false
  let running = false
  const onAbort = (): void => { if (timedOut || !running) controller.abort(asker.reason) }
  const timer = setTimeout(() => {
    timedOut = true
    if (asker.aborted) controller.abort(new DOMException(`dial timed out after ${ms} ms`, 'TimeoutError'))
  }, ms)
  asker.addEventListener('abort', onAbort, { once: true })
  return {
    signal: controller.signal,
    started: () => { running = true },
    running: () => running,
    clear: () => { clearTimeout(timer); asker.removeEventListener('abort', onAbort) }
  }
}

/**
 * Wraps `cm.openConnection` in place (every libp2p path to a new connection
 * goes through it: `dial`, `dialProtocol`, `openStream`, kad-dht's requests).
 * Wrap before the node starts, so dials made while it starts are covered.
 * Returns a function that puts the original back.
 */
export function patientDials (cm: ConnectionOpener, init: PatientDialsInit): () => void {
  const original = cm.openConnection
  cm.openConnection = async (peer: Target, options: OpenOptions = {}): Promise<Connection> => {
    const asker = options.signal
    // Nothing to outlive: no asker's deadline, a forced new connection, or
    // one already open (every request on a held link comes here).
    if (asker === undefined || options.force === true || (isPeerId(peer) && cm.getConnections(peer).length > 0)) {
      return await original.call(cm, peer, options)
    }
    asker.throwIfAborted()
    const deadline = dialDeadline(asker, init.dialTimeoutMs)
    const onProgress = (evt: Event): void => {
      if (evt.type === DIAL_STARTED) deadline.started()
      options.onProgress?.(evt)
    }
    const dial = original.call(cm, peer, { ...options, signal: deadline.signal, onProgress })
    let outlived = false
    void dial.then(
      () => { if (outlived) init.onOutlived?.('connected') },
      () => { if (outlived) init.onOutlived?.('failed') }
    ).finally(deadline.clear)
    return await new Promise<Connection>((resolve, reject) => {
      // A dial dropped from the queue did not outlive anyone.
      const onAbort = (): void => { outlived = deadline.running(); reject(asker.reason) }
      asker.addEventListener('abort', onAbort, { once: true })
      dial.then(resolve, reject).finally(() => { asker.removeEventListener('abort', onAbort) })
    })
  }
  return () => { cm.openConnection = original }
}
