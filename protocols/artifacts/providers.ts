/**
 * The peers one fetch asks: those the caller names (the publisher, the
 * deployment's nodes) at once, and those the DHT names as providers of the
 * archive CID as they arrive. A peer is dropped for the rest of the fetch
 * when it lies (a block that is not what it asked for) or fails
 * `maxProviderErrors` requests in a row. `changed()` wakes the fetch loop on
 * anything that may let it make progress: a new peer, a request settling,
 * the DHT lookup ending.
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import type { ProviderRouting } from './routing.js'

export interface Provider {
  id: PeerId
  key: string
  /** Requests in flight to it. */
  inflight: number
  /** Failed requests in a row. */
  errors: number
  dropped: boolean
}

export class ProviderPool {
  private readonly peers = new Map<string, Provider>()
  private wake!: () => void
  private waiting!: Promise<void>
  /** True while the DHT lookup runs: more providers may come. */
  discovering = false

  constructor (private readonly self: string, private readonly log: Logger) {
    this.rearm()
  }

  /** Add a peer by id (string or PeerId); this node and dropped peers are ignored. Returns whether it is new. */
  add (peer: string | PeerId): boolean {
    let id: PeerId
    try {
      id = typeof peer === 'string' ? peerIdOf(peer) : peer
    } catch {
      this.log.debug({ peer }, 'not a peer id, ignored')
      return false
    }
    const key = id.toString()
    if (key === this.self || this.peers.has(key)) return false
    this.peers.set(key, { id, key, inflight: 0, errors: 0, dropped: false })
    this.notify()
    return true
  }

  /** Peers not dropped, in the order they were added (the caller's first). */
  active (): Provider[] {
    return [...this.peers.values()].filter(p => !p.dropped)
  }

  drop (p: Provider, reason: string): void {
    if (p.dropped) return
    p.dropped = true
    this.log.info({ peer: p.key, reason }, 'artifact provider dropped for this fetch')
    this.notify()
  }

  /** Look up providers of `archive` in the DHT until it ends, `timeoutMs` passes or `signal` aborts. */
  discover (routing: ProviderRouting, archive: string, timeoutMs: number, signal: AbortSignal): void {
    this.discovering = true
    const run = async (): Promise<void> => {
      try {
        const opts = { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) }
        for await (const ev of routing.findProviders(CID.parse(archive), opts)) {
          if (ev.name === 'PROVIDER') for (const p of ev.providers ?? []) this.add(p.id)
        }
      } catch (err) {
        if (!signal.aborted) this.log.debug({ err, archive }, 'provider lookup ended with an error')
      } finally {
        this.discovering = false
        this.notify()
      }
    }
    void run()
  }

  /**
   * Resolves at the next change (see the file comment), or after `ms` if given. Take it before awaiting anything
   * else. Its abort listener goes with it: a fetch loop waits many times on one signal.
   */
  async changed (signal: AbortSignal, ms?: number): Promise<void> {
    let onAbort!: () => void
    let timer: ReturnType<typeof setTimeout> | undefined
    const other = new Promise<void>(resolve => {
      onAbort = resolve
      signal.addEventListener('abort', onAbort, { once: true })
      if (ms !== undefined) timer = setTimeout(resolve, ms)
    })
    try {
      await Promise.race([this.waiting, other])
    } finally {
      signal.removeEventListener('abort', onAbort)
      clearTimeout(timer)
    }
    signal.throwIfAborted()
  }

  notify (): void {
    this.wake()
    this.rearm()
  }

  private rearm (): void {
    this.waiting = new Promise<void>(resolve => { this.wake = resolve })
  }
}
