/**
 * Command tunables, one set per profile (lib/tunables.ts), and the wire
 * names. Requests go out on one network-wide gossipsub topic (targets filter
 * themselves, as Serf's queries do); answers come straight back to the
 * originator over a stream protocol (docs/commands.md).
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** The gossipsub topic of signed command requests (every region: a request may name several). */
export const COMMAND_TOPIC = 'mycel/command/1'
/** The stream protocol a target answers on, straight to the originator. */
export const COMMAND_RESULT_PROTOCOL = '/mycel/command-result/1.0.0'

export interface CommandConfig {
  /** How long the caller waits for answers when it names no --timeout, ms. */
  defaultTimeoutMs: number
  /** Longest --timeout accepted, ms; also bounds how long a request stays valid. */
  maxTimeoutMs: number
  /**
   * Longest life of a request (expires - issuedAt), ms. Targets keep a
   * request's id until it expires, so this bounds the replay set in time;
   * a request asking for longer is refused.
   */
  expiryWindowMs: number
  /** Requests stamped further than this in the future are refused (clock skew bound), ms. */
  maxFutureSkewMs: number
  /** Request ids remembered for replay refusal; when full of unexpired ids, new requests are refused rather than an id forgotten. */
  seenMax: number
  /** Output kept of one run (stdout and stderr interleaved), bytes; the rest is dropped with a marker. */
  maxOutputBytes: number
  /** Largest signed request or answer accepted, bytes (an answer carries up to maxOutputBytes of output). */
  maxMessageBytes: number
  /** Operator commands' run time when their declaration names none, ms; built-ins are bounded by it too. */
  execTimeoutMs: number
  /** Longest declared operator timeout accepted, ms. */
  maxExecTimeoutMs: number
  /** Runs at once on one node; more wait their turn (a burst of requests cannot fork a process storm). */
  maxConcurrentRuns: number
  /** Delivering one answer to the originator (dial, write, ack), ms. */
  answerTimeoutMs: number
}

export const commandTunables = defineTunables<CommandConfig>({
  module: 'command',
  schema: z.strictObject({
    defaultTimeoutMs: tunable.positive(),
    maxTimeoutMs: tunable.positive(),
    expiryWindowMs: tunable.positive(),
    maxFutureSkewMs: tunable.positive(),
    seenMax: tunable.positive(),
    maxOutputBytes: tunable.positive(),
    maxMessageBytes: tunable.positive(),
    execTimeoutMs: tunable.positive(),
    maxExecTimeoutMs: tunable.positive(),
    maxConcurrentRuns: tunable.positive(),
    answerTimeoutMs: tunable.positive()
  }),
  relations: [
    (t) => t.defaultTimeoutMs <= t.maxTimeoutMs ? undefined : 'defaultTimeoutMs must not exceed maxTimeoutMs',
    (t) => t.maxTimeoutMs <= t.expiryWindowMs ? undefined : 'maxTimeoutMs must not exceed expiryWindowMs (a request must stay valid while its caller waits)',
    (t) => t.maxOutputBytes + 4096 <= t.maxMessageBytes ? undefined : 'maxMessageBytes must hold maxOutputBytes plus the answer\'s other fields'
  ],
  profiles: {
    lan: { defaultTimeoutMs: 10_000, maxTimeoutMs: 120_000, expiryWindowMs: 300_000, maxFutureSkewMs: 60_000, seenMax: 10_000, maxOutputBytes: 64 * 1024, maxMessageBytes: 80 * 1024, execTimeoutMs: 10_000, maxExecTimeoutMs: 120_000, maxConcurrentRuns: 8, answerTimeoutMs: 10_000 },
    wan: { defaultTimeoutMs: 30_000, maxTimeoutMs: 240_000, expiryWindowMs: 300_000, maxFutureSkewMs: 120_000, seenMax: 10_000, maxOutputBytes: 64 * 1024, maxMessageBytes: 80 * 1024, execTimeoutMs: 30_000, maxExecTimeoutMs: 240_000, maxConcurrentRuns: 8, answerTimeoutMs: 30_000 },
    test: { defaultTimeoutMs: 5_000, maxTimeoutMs: 60_000, expiryWindowMs: 120_000, maxFutureSkewMs: 60_000, seenMax: 1_000, maxOutputBytes: 64 * 1024, maxMessageBytes: 80 * 1024, execTimeoutMs: 5_000, maxExecTimeoutMs: 60_000, maxConcurrentRuns: 8, answerTimeoutMs: 5_000 }
  }
})
