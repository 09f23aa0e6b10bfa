/**
 * Ed25519 sign and verify as the agent does them (issue 18): libp2p's key
 * objects (a node:crypto KeyObject rebuilt from a JWK on every call) against
 * lib/ed25519-key.ts (KeyObjects made once), interleaved in one run so
 * machine noise hits both alike. Reports µs per operation and the ratio.
 * Results: bench/results/signing.json; docs/performance.md has the table.
 *
 *   npm run bench -- signing
 */
import '../daemon/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { ed25519PublicKeyObject, fastSigningKey, verifyEd25519With } from '../lib/ed25519-key.js'
import { median, round, writeResult } from './lib/stats.js'

const OPS = 5000
const ROUNDS = 7
const key = await generateKeyPair('Ed25519')
const fast = fastSigningKey(key)
const pub = ed25519PublicKeyObject(key.publicKey.raw)
// A typical signed body: a health report or a lease is a few hundred bytes.
const msg = new Uint8Array(300).fill(7)
const sig = await key.sign(msg)

async function time (op: () => unknown): Promise<number> {
  const t = process.hrtime.bigint()
  for (let i = 0; i < OPS; i++) await op()
  return Number(process.hrtime.bigint() - t) / OPS / 1000
}

const runs: Record<string, number[]> = { libp2pSign: [], fastSign: [], libp2pVerify: [], fastVerify: [] }
for (let r = 0; r < ROUNDS; r++) {
  runs.libp2pSign!.push(await time(() => key.sign(msg)))
  runs.fastSign!.push(await time(() => fast.sign(msg)))
  runs.libp2pVerify!.push(await time(() => key.publicKey.verify(msg, sig)))
  runs.fastVerify!.push(await time(() => verifyEd25519With(pub, msg, sig)))
}
const m = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, round(median(v), 1)])) as Record<keyof typeof runs, number>
const result = {
  opsPerRound: OPS,
  rounds: ROUNDS,
  medianMicroseconds: m,
  signSpeedup: round(m.libp2pSign / m.fastSign, 2),
  verifySpeedup: round(m.libp2pVerify / m.fastVerify, 2)
}
process.stdout.write(`sign   libp2p ${m.libp2pSign} µs  cached KeyObject ${m.fastSign} µs  (${result.signSpeedup}×)\n`)
process.stdout.write(`verify libp2p ${m.libp2pVerify} µs  cached KeyObject ${m.fastVerify} µs  (${result.verifySpeedup}×)\n`)
writeResult('signing', result)
