/**
 * What one small request and its answer cost in CPU between two of the
 * daemon's libp2p nodes (TCP loopback, Noise, yamux; `lan` tunables), by
 * transport (issue 18):
 *
 * - a stream per request (wire/rpc.ts `streamTransport`: open, negotiate,
 *   request, answer, two closes) — what probes used before the mux;
 * - the request mux (wire/rpc-mux.ts: two frames on the peer's session);
 * - two frames on a bare long-lived stream (the floor under the mux);
 * - and, for scale, one gossipsub publication received by the other node.
 *
 * Rounds interleave the transports so machine noise hits them alike; each
 * reports CPU µs per exchange for both nodes together (`process.cpuUsage`,
 * one process) and the median of the rounds.
 * Results: bench/results/requests.json; docs/performance.md has the table.
 *
 *   npm run bench -- requests
 */
import '../daemon/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { lpStream } from '@libp2p/utils'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { createNode } from '../daemon/node.js'
import { libp2pTunables } from '../daemon/profiles.js'
import { streamTransport } from '../wire/rpc.js'
import { MuxTransport } from '../wire/rpc-mux.js'
import { median, round, writeResult } from './lib/stats.js'
import { cpuPerExchange } from './lib/cpu-per-exchange.js'

const EXCHANGES = Number(process.env.MYCEL_BENCH_REQUESTS ?? 1000)
const ROUNDS = 5
const PROTOCOL = '/bench/echo/1.0.0'
const TOPIC = 'bench/requests/1'

const profile = libp2pTunables.defaults('lan')
const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile })
const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile })
const handleOpts = { timeoutMs: 5_000, maxBytes: 4096, maxInboundStreams: 64, onError: (err: unknown) => { throw err } }
const server = new MuxTransport(b)
await server.handle(PROTOCOL, async (req, _c, reply) => { await reply(req) }, handleOpts)
await b.handle('/bench/long/1.0.0', async (stream) => {
  const lp = lpStream(stream)
  try { for (;;) await lp.write((await lp.read()).subarray()) } catch { /* the bench closed it */ }
})
await a.dial(b.getMultiaddrs()[0])

// A probe is about this size (ping with an empty piggyback, signed updates ride along when queued).
const body = new Uint8Array(120).fill(7)
const reqOpts = { timeoutMs: 5_000, maxBytes: 4096 }
const streams = streamTransport(a)
const mux = new MuxTransport(a)
const long = lpStream(await a.dialProtocol(b.peerId, '/bench/long/1.0.0'))

let delivered: (() => void) | undefined
b.services.pubsub.subscribe(TOPIC)
a.services.pubsub.subscribe(TOPIC)
b.services.pubsub.topicValidators.set(TOPIC, async () => TopicValidatorResult.Accept)
b.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === TOPIC) delivered?.() })
// Until the two see each other's subscription, a publication reaches nobody.
while (a.services.pubsub.getSubscribers(TOPIC).length === 0) await new Promise(resolve => setTimeout(resolve, 50))
let seq = 0

const kinds: Record<string, () => Promise<unknown>> = {
  streamPerRequest: async () => await streams.request(b.peerId, PROTOCOL, body, reqOpts),
  requestMux: async () => await mux.request(b.peerId, PROTOCOL, body, reqOpts),
  bareStream: async () => { await long.write(body); return await long.read() },
  gossipMessage: async () => {
    const got = new Promise<void>(resolve => { delivered = resolve })
    const msg = new Uint8Array(300)
    new DataView(msg.buffer).setUint32(0, seq++)
    await a.services.pubsub.publish(TOPIC, msg)
    await got
  }
}

const runs: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map(k => [k, []]))
for (const op of Object.values(kinds)) for (let i = 0; i < 100; i++) await op()
for (let r = 0; r < ROUNDS; r++) for (const [k, op] of Object.entries(kinds)) runs[k]!.push(await cpuPerExchange(op, EXCHANGES))
await mux.close()
await server.close()
await a.stop()
await b.stop()

const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, round(median(v), 0)])) as Record<keyof typeof kinds, number>
const result = {
  exchangesPerRound: EXCHANGES,
  rounds: ROUNDS,
  medianCpuMicroseconds: m,
  streamPerRequestOverMux: round(m.streamPerRequest / m.requestMux, 2),
  muxOverBareStream: round(m.requestMux / m.bareStream, 2)
}
process.stdout.write(`CPU per exchange, both nodes (median of ${ROUNDS} rounds of ${EXCHANGES}):\n`)
process.stdout.write(`  stream per request     ${m.streamPerRequest} µs\n`)
process.stdout.write(`  request mux            ${m.requestMux} µs  (${result.streamPerRequestOverMux}× less than a stream per request)\n`)
process.stdout.write(`  bare long-lived stream ${m.bareStream} µs  (the mux costs ${result.muxOverBareStream}× this floor)\n`)
process.stdout.write(`  gossipsub message      ${m.gossipMessage} µs  (publish, sign, deliver, verify)\n`)
await writeResult('requests', result)
