/**
 * Tunables of the admission protocol, one entry per profile. A handshake is
 * one small request/response on a fresh connection, so the timeouts only
 * matter on a starved host; the refusal memory decides how long a peer of
 * another network is kept out by the connection gater before it may try
 * again (it is refused again, with a new log line, if nothing changed).
 * Resolve with `admissionTunables.defaults(profile)` (lib/tunables.ts).
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** The one protocol that runs before admission: both sides send their hello on every new connection. */
export const ADMISSION_PROTOCOL = '/mycel/admission/1.0.0'

/**
 * Largest hello accepted, bytes: ~90 bytes (a 32-byte hash and a network id),
 * plus a joining agent's token redemption (MAX_JOIN_BYTES) or a refusal's
 * one-line reason.
 */
export const MAX_HELLO_BYTES = 6 * 1024
/** Largest token redemption a hello carries (a signed critical entry with its token, ~600 bytes). */
export const MAX_JOIN_BYTES = 4 * 1024

export interface AdmissionConfig {
  /** One handshake exchange (open the stream, send our hello, read theirs), ms. */
  handshakeTimeoutMs: number
  /** Exchanges tried per connection before it is closed without a verdict. */
  handshakeAttempts: number
  /**
   * How long a stream of a peer still being admitted waits for the verdict,
   * ms: the handshake's whole budget, so a slow but honest peer is not cut
   * off while its handshake is still running.
   */
  admitWaitMs: number
  /**
   * How long a refused peer stays refused by the connection gater, ms. Long
   * enough that a misconfigured agent retrying every few seconds does not
   * cost a handshake each time; short enough that once it is fixed and
   * restarted it gets in without restarting the whole network.
   */
  refusalMemoryMs: number
  /** Refusals remembered at most; the oldest is forgotten first (bounded memory under a flood of identities). */
  maxRefusals: number
  /**
   * Delay between refusing a peer and closing its connections, ms: lets our
   * hello reach it, so it can log why it was refused. The stream gate lets
   * nothing else through meanwhile.
   */
  hangUpDelayMs: number
  /**
   * How long a joining peer whose token checked out may wait for its
   * admission to be committed, ms, and how long a peer claiming a newer
   * policy than ours may serve us blocks before we judge it on what we have.
   * After that it is hung up on, not remembered: its next connection tries again.
   */
  limitedWaitMs: number
}

/** One entry per timer profile (the daemon's `lan`, `wan`, `test`), validated when this module loads. */
export const admissionTunables = defineTunables<AdmissionConfig>({
  module: 'admission',
  schema: z.strictObject({
    handshakeTimeoutMs: tunable.positive(),
    handshakeAttempts: tunable.positive(),
    admitWaitMs: tunable.positive(),
    refusalMemoryMs: tunable.positive(),
    maxRefusals: tunable.positive(),
    hangUpDelayMs: tunable.nonNegative(),
    limitedWaitMs: tunable.positive()
  }),
  profiles: {
    // Generous on purpose: a starved host (a bootstrap peer taking a wave of
    // joiners, a 2-core box running nine agents) answers seconds late, and a
    // handshake that times out costs the whole connection, which is far worse
    // than waiting. Measured: 2 s exchanges timed out on both sides while the
    // serving agent ran its handlers 3-4 s late.
    lan: { handshakeTimeoutMs: 10_000, handshakeAttempts: 2, admitWaitMs: 22_000, refusalMemoryMs: 5 * 60_000, maxRefusals: 4_096, hangUpDelayMs: 200, limitedWaitMs: 60_000 },
    wan: { handshakeTimeoutMs: 20_000, handshakeAttempts: 2, admitWaitMs: 45_000, refusalMemoryMs: 10 * 60_000, maxRefusals: 4_096, hangUpDelayMs: 500, limitedWaitMs: 120_000 },
    // Refusals outlive the 30 s an integration test watches an outsider try.
    test: { handshakeTimeoutMs: 5_000, handshakeAttempts: 2, admitWaitMs: 12_000, refusalMemoryMs: 60_000, maxRefusals: 4_096, hangUpDelayMs: 100, limitedWaitMs: 20_000 }
  },
  relations: [
    // A stream of a peer still being admitted waits admitWaitMs for the
    // verdict (service.ts admitOn); shorter than every handshake attempt
    // together, it would cut off a slow but honest peer whose last attempt is
    // still running, which is what the wait is for.
    t => t.admitWaitMs >= t.handshakeAttempts * t.handshakeTimeoutMs
      ? undefined
      : `admitWaitMs (${t.admitWaitMs}) must cover handshakeAttempts × handshakeTimeoutMs (${t.handshakeAttempts * t.handshakeTimeoutMs}): a stream must not give up on a handshake still running`
  ]
})
