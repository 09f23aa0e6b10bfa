/**
 * What one small exchange (a request of 120 bytes and its answer, both ends
 * in this process) costs in CPU back to back, and after the process slept
 * between exchanges as an agent at rest does (issue 18, twenty-seventh pass).
 * An agent at rest handles a probe or a gossip message every few hundred
 * milliseconds, so what it pays is the second column.
 *
 * Side by side in one run, on loopback:
 * - raw TCP and raw UDP echoes: the floor any protocol pays per exchange;
 * - UDP with an Ed25519 signature checked and made on each datagram (what a
 *   memberlist-style signed probe would cost: every gossip message signed),
 *   and with an HMAC-SHA256 tag instead (a key shared per pair);
 * - the request mux over libp2p (Noise, yamux; wire/rpc-mux.ts), echoing;
 * - a membership ping answered by a real membership instance (its handler,
 *   the codec, the ack) over the same mux.
 * Both ends run in this process, so one process wakes per exchange where two
 * would on two hosts, and the answering end runs code the asking end just
 * warmed: the rows with more code (the mux, the ping) are flattered most.
 * Rounds interleave the kinds so noise hits them alike; the median per kind
 * is reported, and each kind as a ratio to the raw TCP echo of its column.
 * Results: bench/results/wake-cost.json; docs/performance.md has the table.
 *
 *   npm run bench -- wake-cost          (MYCEL_BENCH_WAKE_GAP_MS, default 100)
 */
import '../daemon/polyfill.js'
import { once } from 'node:events'
import net from 'node:net'
import dgram from 'node:dgram'
import crypto from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { createNode } from '../daemon/node.js'
import { libp2pTunables } from '../daemon/profiles.js'
import { MuxTransport } from '../wire/rpc-mux.js'
import { membership, membershipConfig, PROBE_PROTOCOL } from '../protocols/membership/index.js'
import { decoders, encode } from '../protocols/membership/messages.js'
import { median, round, writeResult } from './lib/stats.js'
import { cpuPerExchange } from './lib/cpu-per-exchange.js'
import { envNumber, readBenchConfig } from './lib/env.js'

const { GAP_MS, WARM, COLD } = readBenchConfig('wake-cost', () => ({
  GAP_MS: envNumber(process.env, 'MYCEL_BENCH_WAKE_GAP_MS', 100, { min: 1 }),
  WARM: envNumber(process.env, 'MYCEL_BENCH_WAKE_WARM', 500, { min: 1, integer: true }),
  COLD: envNumber(process.env, 'MYCEL_BENCH_WAKE_COLD', 40, { min: 1, integer: true })
}))
const ROUNDS = 5
const ECHO = '/bench/echo/1.0.0'
const body = Buffer.alloc(120, 7)
/** A lost datagram or a stalled answer fails the bench instead of hanging it, ms. */
const EXCHANGE_TIMEOUT_MS = 5_000

async function main (): Promise<void> {
  // Raw TCP echo.
  const tcpServer = net.createServer(s => { s.setNoDelay(true); s.on('data', d => s.write(d)) })
  tcpServer.listen(0, '127.0.0.1')
  await once(tcpServer, 'listening')
  cleanups.push(() => { tcpServer.close() })
  const tcp = net.connect((tcpServer.address() as net.AddressInfo).port, '127.0.0.1')
  tcp.setNoDelay(true)
  cleanups.push(() => { tcp.destroy() })
  await once(tcp, 'connect')

  // UDP echoes: plain, signed (Ed25519 per datagram, verified at each end), HMAC-tagged.
  const { privateKey: edPriv, publicKey: edPub } = crypto.generateKeyPairSync('ed25519')
  const hmacKey = crypto.randomBytes(32)
  interface Seal { seal: (b: Buffer) => Buffer, open: (m: Buffer) => Buffer }
  /** By the first byte of the datagram, so one server answers every kind. */
  const seals: Record<string, Seal> = {
    p: { seal: b => b, open: m => m },
    s: {
      seal: b => Buffer.concat([b, crypto.sign(null, b, edPriv)]),
      open: m => { const b = m.subarray(0, m.length - 64); if (!crypto.verify(null, b, edPub, m.subarray(m.length - 64))) throw new Error('bad signature'); return b }
    },
    h: {
      seal: b => Buffer.concat([b, crypto.createHmac('sha256', hmacKey).update(b).digest()]),
      open: m => { const b = m.subarray(0, m.length - 32); if (!crypto.timingSafeEqual(crypto.createHmac('sha256', hmacKey).update(b).digest(), m.subarray(m.length - 32))) throw new Error('bad tag'); return b }
    }
  }
  const udpServer = dgram.createSocket('udp4')
  udpServer.on('message', (m, r) => {
    const s = seals[String.fromCharCode(m[0])]
    if (s !== undefined) udpServer.send(s.seal(s.open(m)), r.port, r.address)
  })
  udpServer.bind(0, '127.0.0.1')
  cleanups.push(() => { udpServer.close() })
  await once(udpServer, 'listening')
  const udp = dgram.createSocket('udp4')
  udp.bind(0, '127.0.0.1')
  cleanups.push(() => { udp.close() })
  await once(udp, 'listening')
  const udpPort = udpServer.address().port
  async function udpExchange (code: 'p' | 's' | 'h'): Promise<void> {
    const got = once(udp, 'message', { signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS) })
    udp.send(seals[code].seal(Buffer.concat([Buffer.from(code), body])), udpPort, '127.0.0.1')
    seals[code].open((await got)[0] as Buffer)
  }

  // libp2p: a requester, an echo server, and a membership instance answering pings.
  const profile = libp2pTunables.defaults('lan')
  const dir = await mkdtemp(join(tmpdir(), 'mycel-bench-wake-'))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile })
  const echoNode = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], profile })
  const bKey = await generateKeyPair('Ed25519')
  const b = await createNode({ privateKey: bKey, listen: ['/ip4/127.0.0.1/tcp/0'], profile })
  cleanups.push(async () => { await Promise.allSettled([a.stop(), echoNode.stop(), b.stop()]) })
  await Promise.all([a.start(), echoNode.start(), b.start()])
  const server = new MuxTransport(echoNode)
  cleanups.push(async () => { await server.close() })
  await server.handle(ECHO, async (req, _c, reply) => { await reply(req) }, { timeoutMs: 5_000, maxBytes: 4096, maxInboundStreams: 64, onError: () => {} })
  const cfg = membershipConfig('lan')
  const m = membership({ config: cfg, region: 'r1', roles: [], version: 'bench', dataDir: dir })({
    rpc: b, peers: b, pubsub: b.services.pubsub, peerId: b.peerId.toString(), privateKey: bKey, region: 'r1', logger: pino({ level: 'silent' }), registry: new Registry()
  })
  cleanups.push(async () => { await m.stop() })
  await m.start()
  const mux = new MuxTransport(a)
  cleanups.push(async () => { await mux.close() })
  await a.dial(echoNode.getMultiaddrs()[0])
  await a.dial(b.getMultiaddrs()[0])
  const codec = decoders(cfg)
  let seq = 0

  const kinds: Record<string, () => Promise<unknown>> = {
    tcpEcho: async () => { const got = once(tcp, 'data', { signal: AbortSignal.timeout(EXCHANGE_TIMEOUT_MS) }); tcp.write(body); await got },
    udpEcho: async () => { await udpExchange('p') },
    udpSigned: async () => { await udpExchange('s') },
    udpHmac: async () => { await udpExchange('h') },
    requestMux: async () => await mux.request(echoNode.peerId, ECHO, body, { timeoutMs: EXCHANGE_TIMEOUT_MS, maxBytes: 4096 }),
    membershipPing: async () => {
      seq = (seq + 1) % 0xffffffff
      const ack = codec.ack(await mux.request(b.peerId, PROBE_PROTOCOL, encode({ v: 1, t: 'ping', seq, u: [] }), { timeoutMs: EXCHANGE_TIMEOUT_MS, maxBytes: cfg.maxProbeBytes }))
      if (ack.seq !== seq) throw new Error('ack for another ping')
    }
  }

  for (const op of Object.values(kinds)) for (let i = 0; i < 50; i++) await op()
  const warm: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map(k => [k, []]))
  const cold: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map(k => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, op] of Object.entries(kinds)) {
      warm[k].push(await cpuPerExchange(op, WARM))
      cold[k].push(await cpuPerExchange(op, COLD, GAP_MS))
    }
  }
  const med = (runs: Record<string, number[]>): Record<string, number> => Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, round(median(v), 0)]))
  const w = med(warm)
  const c = med(cold)
  const result = {
    gapMs: GAP_MS,
    rounds: ROUNDS,
    exchangesPerRound: { warm: WARM, afterGap: COLD },
    medianCpuMicroseconds: { warm: w, afterGap: c },
    overTcpEcho: {
      warm: Object.fromEntries(Object.entries(w).map(([k, v]) => [k, round(v / w.tcpEcho, 2)])),
      afterGap: Object.fromEntries(Object.entries(c).map(([k, v]) => [k, round(v / c.tcpEcho, 2)]))
    }
  }
  process.stdout.write(`CPU per exchange, both ends (median of ${ROUNDS} rounds; ratio to the raw TCP echo of the same column):\n`)
  process.stdout.write(`  ${'kind'.padEnd(16)} ${'back to back'.padStart(18)} ${`after ${GAP_MS} ms asleep`.padStart(24)}\n`)
  for (const k of Object.keys(kinds)) {
    process.stdout.write(`  ${k.padEnd(16)} ${`${w[k]} µs (${result.overTcpEcho.warm[k]}×)`.padStart(18)} ${`${c[k]} µs (${result.overTcpEcho.afterGap[k]}×)`.padStart(24)}\n`)
  }
  await writeResult('wake-cost', result)
}

/** Undone in reverse order whatever happens, each step on its own: one that fails does not skip the others. */
const cleanups: Array<() => unknown> = []

try {
  await main()
} finally {
  for (const undo of cleanups.reverse()) {
    try { await undo() } catch (err) { process.stderr.write(`clean-up step failed: ${(err as Error).message}\n`) }
  }
}
