/**
 * Tunables of the BFT critical-config protocol. Timeouts are local (each
 * validator may pick its own); the limits marked "network-wide" must agree
 * across validators because they decide whether a block is valid, so they
 * live in the genesis file (`params`) and these are only their defaults.
 * The local tunables are one set per profile (`bftTunables.defaults(profile)`
 * / `.create(profile, overrides)`, lib/tunables.ts), validated when this
 * module loads.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** Stream protocol validators use for proposals, votes, submissions and commits. */
export const BFT_PROTOCOL = '/mycel/bft/1.0.0'
/** Catch-up: request certified blocks from a height onward from any peer. */
export const BFT_SYNC_PROTOCOL = '/mycel/bft-sync/1.0.0'
/** Gossipsub topic carrying certified blocks to every node. */
export const CRITICAL_TOPIC = 'mycel/critical/1'

/** Reserved key holding the validator set (JSON array of peer ids). */
export const VALIDATORS_KEY = 'bft/validators'
/** Reserved key holding the admin set (JSON array of peer ids). */
export const ADMINS_KEY = 'bft/admins'
/**
 * A validator-set change committed at height h governs blocks from h + this.
 * Two, not one: while validators work on h + 1 they already know the set of
 * h + 2, so new validators can be dialled before they are needed and a
 * syncing node can verify block h + 1 from state it already holds.
 */
export const VALIDATOR_CHANGE_DELAY = 2
/** An admin-set change committed at height h authorises entries from h + this. */
export const ADMIN_CHANGE_DELAY = 1

/** Network-wide defaults (genesis `params`). */
export const DEFAULT_MAX_BLOCK_ENTRIES = 64
export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024
/** Keys are short names like `acl/<namespace>`; bytes. */
export const MAX_KEY_BYTES = 256
/** Hard ceiling on validators, so per-height vote state stays small. */
export const MAX_VALIDATORS = 128
/** Upper bound on any wire message (a certificate of a full block), bytes. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024
/**
 * Votes for rounds above ours are kept for at most this many distinct future
 * rounds per validator (Tendermint's catch-up rounds): a byzantine validator
 * cannot fill memory with votes for rounds 1..1e9, yet honest validators that
 * are ahead still make us skip forward (f+1 of them suffice).
 */
export const MAX_FUTURE_ROUNDS_PER_VALIDATOR = 2
/** Messages for height + 1 held until we decide the current height. */
export const MAX_BUFFERED_FUTURE_MESSAGES = 1024
/** Pending entries a validator holds at most. */
export const MAX_MEMPOOL_ENTRIES = 4096
/** An entry may not claim to live longer than this after it is signed, ms. */
export const MAX_ENTRY_TTL_MS = 10 * 60_000
/** Largest grant an entry may carry (a join token is ~250 bytes), bytes. */
export const MAX_GRANT_BYTES = 2048
/** Certificates returned by one catch-up request. */
export const SYNC_BATCH = 64

export interface BftTimeouts {
  /** Wait for the round's proposal: base + round × delta, ms. */
  proposeMs: number
  proposeDeltaMs: number
  /** After 2f+1 prevotes of mixed content, ms. */
  prevoteMs: number
  prevoteDeltaMs: number
  /** After 2f+1 precommits of mixed content, before moving to the next round, ms. */
  precommitMs: number
  precommitDeltaMs: number
  /** Re-send own votes/proposal/pending entries while a height is open, ms (lost messages). */
  rebroadcastMs: number
  /** Minimum gap between two catch-up requests to one peer, ms. */
  syncRetryMs: number
}

export interface BftProfile extends BftTimeouts {
  /** Non-validators ask a random peer for missed blocks this often, ms. */
  syncIntervalMs: number
  /** Default wait of `POST /v1/critical` for the commit, ms. */
  proposeWaitMs: number
  /** Slack for clock skew added past an entry's expiry before reporting failure, ms. */
  clockSkewMs: number
  /** One stream exchange (send a message / a sync batch), ms. */
  streamTimeoutMs: number
}

/**
 * Liveness needs each round timeout to grow with the round (`base + r ×
 * delta`, delta > 0), so that after the network stabilises some round is long
 * enough for an honest proposer (docs/bft.md). Safety needs no timing at all,
 * so no ordering between the three timeouts is required.
 */
export const bftTunables = defineTunables<BftProfile>({
  module: 'bft',
  schema: z.strictObject({
    proposeMs: tunable.positive(),
    proposeDeltaMs: tunable.positive(),
    prevoteMs: tunable.positive(),
    prevoteDeltaMs: tunable.positive(),
    precommitMs: tunable.positive(),
    precommitDeltaMs: tunable.positive(),
    rebroadcastMs: tunable.positive(),
    syncRetryMs: tunable.positive(),
    syncIntervalMs: tunable.positive(),
    proposeWaitMs: tunable.positive(),
    clockSkewMs: tunable.nonNegative(),
    streamTimeoutMs: tunable.positive()
  }),
  profiles: {
    lan: {
      proposeMs: 1_000, proposeDeltaMs: 500,
      prevoteMs: 500, prevoteDeltaMs: 250,
      precommitMs: 500, precommitDeltaMs: 250,
      rebroadcastMs: 1_000, syncRetryMs: 1_000,
      syncIntervalMs: 5_000, proposeWaitMs: 10_000, clockSkewMs: 1_000, streamTimeoutMs: 5_000
    },
    wan: {
      proposeMs: 3_000, proposeDeltaMs: 1_000,
      prevoteMs: 1_000, prevoteDeltaMs: 500,
      precommitMs: 1_000, precommitDeltaMs: 500,
      rebroadcastMs: 2_000, syncRetryMs: 2_000,
      syncIntervalMs: 15_000, proposeWaitMs: 30_000, clockSkewMs: 5_000, streamTimeoutMs: 10_000
    },
    test: {
      proposeMs: 300, proposeDeltaMs: 150,
      prevoteMs: 150, prevoteDeltaMs: 75,
      precommitMs: 150, precommitDeltaMs: 75,
      rebroadcastMs: 300, syncRetryMs: 200,
      syncIntervalMs: 1_000, proposeWaitMs: 5_000, clockSkewMs: 500, streamTimeoutMs: 3_000
    }
  },
  relations: [
    // propose() signs its entry to expire proposeWaitMs from now and reports
    // failure clockSkewMs after that; an entry may not live longer than
    // MAX_ENTRY_TTL_MS, so service.ts cuts any longer wait to the cap. A
    // default beyond it would be cut on every call, silently.
    t => t.proposeWaitMs + t.clockSkewMs <= MAX_ENTRY_TTL_MS
      ? undefined
      : `proposeWaitMs + clockSkewMs (${t.proposeWaitMs + t.clockSkewMs}) must not exceed the entry lifetime cap MAX_ENTRY_TTL_MS (${MAX_ENTRY_TTL_MS})`
  ]
})
