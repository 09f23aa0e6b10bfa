/**
 * What one libp2p connection costs in CPU between two of the daemon's nodes
 * (TCP loopback, Noise XX, yamux, identify both ways, gossipsub's
 * subscriptions on six topics; `lan` tunables), from dial to both ends
 * knowing each other's topics, then the hang-up (issue 18). A network pays
 * this for every link a join makes (≈ 19 a join, docs/performance.md).
 *
 * Side by side in one run: pairs on the daemon's Noise crypto
 * (daemon/noise-crypto.ts: X25519 keys kept as KeyObjects, node's HKDF) and
 * pairs on @chainsafe/libp2p-noise's stock crypto, rounds interleaved so
 * machine noise hits both alike. CPU is both nodes together
 * (`process.cpuUsage`, one process); the median of the rounds is reported.
 *
 *   npm run bench -- connection
 */
import '../daemon/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { createNode, type MycelNode } from '../daemon/node.js'
import { noiseCrypto } from '../daemon/noise-crypto.js'
import { libp2pTunables } from '../daemon/profiles.js'
import { median, round, writeResult } from './lib/stats.js'

const ROUNDS = Number(process.env.MYCEL_BENCH_ROUNDS ?? 9)
const PER_ROUND = Number(process.env.MYCEL_BENCH_CONNECTIONS ?? 60)
const WARMUP = 10
const TOPICS = ['a', 'b', 'c', 'd', 'e', 'f'].map(t => `mycel-bench/${t}`)
const profile = libp2pTunables.defaults('lan')

/**
 * Resolves once `done()` holds, checked now and at each `event` of the
 * targets: waiting on events, not a polling timer, whose wake-ups would be
 * counted in the CPU measured.
 */
async function when (targets: EventTarget[], event: string, done: () => boolean): Promise<void> {
  if (done()) return
  await new Promise<void>(resolve => {
    const check = (): void => {
      if (!done()) return
      for (const t of targets) t.removeEventListener(event, check)
      resolve()
    }
    for (const t of targets) t.addEventListener(event, check)
  })
}

interface Pair { a: MycelNode, b: MycelNode }

async function pair (crypto: ICryptoInterface): Promise<Pair> {
  const make = async (): Promise<MycelNode> => {
    const n = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile, noiseCrypto: crypto })
    for (const t of TOPICS) n.services.pubsub.subscribe(t)
    return n
  }
  return { a: await make(), b: await make() }
}

/** One connection: dial, both ends identified and subscribed, hang up, both ends closed. */
async function connection ({ a, b }: Pair): Promise<void> {
  await a.dial(b.getMultiaddrs()[0])
  const last = TOPICS[TOPICS.length - 1]
  await when([a.services.pubsub, b.services.pubsub], 'subscription-change', () =>
    a.services.pubsub.getSubscribers(last).some(p => p.equals(b.peerId)) && b.services.pubsub.getSubscribers(last).some(p => p.equals(a.peerId)))
  await a.hangUp(b.peerId)
  await when([a, b], 'connection:close', () => a.getConnections().length === 0 && b.getConnections().length === 0)
}

/** CPU ms per connection over `n` connections. */
async function measure (p: Pair, n: number): Promise<number> {
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) await connection(p)
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1000 / n
}

const ours = await pair(noiseCrypto)
const stock = await pair(defaultCrypto)
await measure(ours, WARMUP)
await measure(stock, WARMUP)
const rounds: Array<{ ours: number, stock: number }> = []
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which goes first, so neither always runs on a warmer machine.
  const first = r % 2 === 0 ? 'ours' : 'stock'
  const x = await measure(first === 'ours' ? ours : stock, PER_ROUND)
  const y = await measure(first === 'ours' ? stock : ours, PER_ROUND)
  rounds.push(first === 'ours' ? { ours: x, stock: y } : { ours: y, stock: x })
  process.stdout.write(`round ${r + 1}: daemon's Noise crypto ${round(rounds[r].ours, 1)} ms, stock ${round(rounds[r].stock, 1)} ms CPU per connection\n`)
}
for (const p of [ours, stock]) { await p.a.stop(); await p.b.stop() }
const result = {
  connectionsPerRound: PER_ROUND,
  rounds: rounds.map(r => ({ ours: round(r.ours, 2), stock: round(r.stock, 2) })),
  medianMs: { ours: round(median(rounds.map(r => r.ours)), 2), stock: round(median(rounds.map(r => r.stock)), 2) },
  ratio: round(median(rounds.map(r => r.ours / r.stock)), 3)
}
process.stdout.write(`median CPU per connection, both ends: daemon's Noise crypto ${result.medianMs.ours} ms, stock ${result.medianMs.stock} ms (ratio ${result.ratio})\n`)
process.stdout.write(`wrote ${await writeResult('connection', result)}\n`)
