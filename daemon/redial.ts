/**
 * @libp2p/bootstrap dials once and never retries (STACK-NOTES): under load
 * many first dials time out and a node stays alone forever. This loop keeps
 * dialing the bootstrap peers with exponential backoff and jitter for as
 * long as we know no live member, and again whenever we become isolated.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import type { MycelNode } from './node.js'
import type { Startable } from './component.js'

export interface RedialInit {
  bootstrap: string[]
  minBackoffMs: number
  maxBackoffMs: number
  /** True while we are connected to the cluster; the loop idles then. */
  isJoined: () => boolean
}

export class Redialer implements Startable {
  private controller?: AbortController
  private readonly addrs: Multiaddr[]
  private backoff: number
  dialsTotal = 0

  constructor (private readonly init: RedialInit, private readonly node: MycelNode, private readonly logger: Logger) {
    this.addrs = init.bootstrap.map(a => multiaddr(a))
    this.backoff = init.minBackoffMs
  }

  start (): void {
    if (this.controller !== undefined || this.addrs.length === 0) return
    this.controller = new AbortController()
    void this.loop(this.controller.signal)
  }

  stop (): void {
    this.controller?.abort()
    this.controller = undefined
  }

  private async loop (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.init.isJoined()) {
        const results = await Promise.allSettled(this.addrs.map(async a => {
          this.dialsTotal++
          return await this.node.dial(a, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.maxBackoffMs)]) })
        }))
        const ok = results.filter(r => r.status === 'fulfilled').length
        if (ok > 0) {
          this.backoff = this.init.minBackoffMs
        } else {
          this.logger.debug({ backoffMs: this.backoff }, 'no bootstrap peer reachable; retrying')
          this.backoff = Math.min(this.backoff * 2, this.init.maxBackoffMs)
        }
      }
      const jitter = 0.5 + Math.random()
      await sleep(Math.round(this.backoff * jitter), signal)
    }
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>(resolve => {
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done (): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve() }
  })
}
