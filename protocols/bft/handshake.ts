/**
 * Genesis handshake (`/mycel/genesis/1.0.0`). When identify tells us a peer
 * speaks it, we exchange {genesis hash, network id}; a peer of another
 * network is refused: a clear log line, a metric, the connection closed and
 * the peer remembered (`refuses(peer)` can back the connection gater). The
 * same check is made on the serving side.
 *
 * Peers that do not speak the protocol (agents started without --genesis)
 * are tolerated: they cannot take part anyway, since every block and vote is
 * bound to the genesis hash (`chain`), so nothing they send would verify.
 */
import type { PeerId } from '@libp2p/interface'
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../wire/codec.js'
import { handleRequests, request, type RpcHost } from '../wire/rpc.js'
import { bytesEqual, hex } from './crypto.js'
import { GENESIS_PROTOCOL } from './constants.js'
import type { BftLogger } from './consensus.js'
import type { BftMetrics } from './metrics.js'

export interface Hello { v: 1, genesis: Uint8Array, networkId: string }
const helloSchema: z.ZodType<Hello> = z.object({
  v: z.literal(1),
  genesis: bytes(32).refine(b => b.byteLength === 32),
  networkId: z.string().max(128)
}).strict()

export function decodeHello (data: Uint8Array): Hello { return decodeCbor(data, helloSchema, 512) }

export interface HandshakeHost extends RpcHost {
  addEventListener: (type: 'peer:identify', fn: (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>) => void) => void
  removeEventListener: (type: 'peer:identify', fn: (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>) => void) => void
  hangUp: (peer: PeerId) => Promise<void>
}

export class GenesisHandshake {
  private readonly refused = new Set<string>()
  private readonly hello: Uint8Array
  private started = false
  private readonly onIdentify = (evt: CustomEvent<{ peerId: PeerId, protocols: string[] }>): void => {
    if (evt.detail.protocols.includes(GENESIS_PROTOCOL)) void this.check(evt.detail.peerId)
  }

  constructor (private readonly d: {
    host: HandshakeHost
    genesis: Uint8Array
    networkId: string
    timeoutMs: number
    logger: BftLogger
    metrics?: BftMetrics
  }) {
    this.hello = encodeCbor({ v: 1, genesis: d.genesis, networkId: d.networkId })
  }

  /** True for peers already found to belong to another network. */
  refuses (peer: string): boolean { return this.refused.has(peer) }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await handleRequests(this.d.host, GENESIS_PROTOCOL, async (req, conn, reply) => {
      await reply(this.hello)
      this.judge(conn.remotePeer, decodeHello(req))
    }, { timeoutMs: this.d.timeoutMs, maxBytes: 512, onError: (err) => { this.d.logger.debug({ err }, 'genesis handshake: bad request') } })
    this.d.host.addEventListener('peer:identify', this.onIdentify)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.d.host.removeEventListener('peer:identify', this.onIdentify)
    await this.d.host.unhandle(GENESIS_PROTOCOL).catch(() => {})
  }

  async check (peer: PeerId): Promise<void> {
    try {
      const res = await request(this.d.host, peer, GENESIS_PROTOCOL, this.hello, { timeoutMs: this.d.timeoutMs, maxBytes: 512 })
      this.judge(peer, decodeHello(res))
    } catch (err) {
      this.d.logger.debug({ err, peer: peer.toString() }, 'genesis handshake failed')
    }
  }

  private judge (peer: PeerId, theirs: Hello): void {
    if (bytesEqual(theirs.genesis, this.d.genesis)) return
    const id = peer.toString()
    if (!this.refused.has(id)) {
      this.d.metrics?.genesisMismatches.inc()
      this.d.logger.warn({
        peer: id, theirGenesis: hex(theirs.genesis), theirNetwork: theirs.networkId, ourGenesis: hex(this.d.genesis), ourNetwork: this.d.networkId
      }, `refusing peer ${id}: its genesis ${hex(theirs.genesis).slice(0, 16)} (network ${theirs.networkId}) differs from ours ${hex(this.d.genesis).slice(0, 16)} (network ${this.d.networkId})`)
    }
    this.refused.add(id)
    void this.d.host.hangUp(peer).catch(() => {})
  }
}
