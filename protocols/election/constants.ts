/**
 * Election tunables. Every duration is in milliseconds. The three profiles
 * follow daemon/profiles.ts; the agent picks one name for every module.
 *
 * Safety rests on one timing assumption, stated here once: the clocks of any
 * two nodes differ by at most `2 * maxClockSkewMs` (NTP-disciplined hosts are
 * within tens of ms; we leave a wide margin). A holder stops acting
 * `maxClockSkewMs` BEFORE its lease expires by its own clock, and a
 * successor starts `maxClockSkewMs` AFTER that expiry by its clock, so the
 * old holder has stopped in real time before the new one starts.
 *
 * A lease also lives only while its holder is seen (`contactLapseMs`): the
 * holder stops acting once no member has been heard from for that long, and
 * everyone else treats a holder's lease as lapsed that long after membership
 * declared the holder dead or gone. Membership's probes (one a second on
 * `lan`) are the evidence both ways, so a lease can be long and renewed
 * seldom, by gossip to every member, while failover after a holder dies
 * still takes about detection + `contactLapseMs` (docs/roles.md, "Leases
 * that live while their holder is seen").
 *
 * One set per profile, validated with the rules below when this module
 * loads; resolve with `electionTunables.defaults(profile)` or
 * `.create(profile, overrides)` (lib/tunables.ts).
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

export interface ElectionConfig {
  /**
   * Lease length: how long a renewal keeps the role when nothing else is
   * known. Bounds failover when membership does not declare the holder dead
   * (a holder that stopped renewing but still answers probes).
   */
  leaseMs: number
  /**
   * Holder renews this often; ~1/3 of the lease leaves two retries before
   * lapse. Every renewal is a gossip message to every member of the region,
   * the largest steady stream an idle network carries, so `lan` renews every
   * 30 s and lets `contactLapseMs` bound failover instead.
   */
  renewIntervalMs: number
  /**
   * A holder stops acting once it has heard from no member for this long
   * (membership's acks and updates; a node that knows no other member is a
   * one-node cluster and needs none), and a reader treats a lease as lapsed
   * this long after membership declared its holder dead or left. A cut-off
   * holder has heard nothing since before anyone could declare it dead, so
   * it stops before any reader sees its lease lapse. At most `leaseMs`.
   */
  contactLapseMs: number
  /** Half the tolerated clock difference between two nodes (see file comment). */
  maxClockSkewMs: number
  /**
   * After claiming a NEW term the claimer waits this long for a competing
   * claim (higher fencing token) to arrive before it starts acting. Keeps the
   * split-view race (two nodes claiming the same term) from ever acting.
   */
  claimSettleMs: number
  /**
   * A freshly started node observes this long before claiming anything, so
   * an existing holder's renewal (gossiped every renew interval) reaches it.
   */
  learnPeriodMs: number
  /**
   * A NEW term is claimed only once the region's candidate set has been
   * unchanged this long in our view (joins at cold start, flapping members),
   * unless the role has gone without a holder for `unsettledClaimMs`.
   */
  viewSettleMs: number
  /**
   * A role without a holder for this long is claimed even while the view
   * still moves (a region whose membership never stays still for
   * `viewSettleMs`). Its own tunable: it was twice the lease, which the
   * twenty-third pass of issue 18 lengthened on `lan`.
   */
  unsettledClaimMs: number
  /**
   * A holder that is no longer the winner in its view keeps the role until
   * the same member has been the winner this long and the view has been
   * still for `viewSettleMs`, then hands it over (a release; the winner
   * claims at once, its view being still too). A handover is a release, the
   * winner's DHT read and write and a duty's stop and start; while a network
   * forms, views change every second and a newly closer member appears
   * ≈ ln N times per role with a complete view, far more often with partial
   * ones: in `join-100`, every role changed hands ≈ 24 times in 100 s. As
   * Consul's and Nomad's leaders do not step down for a member that joins,
   * the holder stays while the view moves; unlike them, it still hands over
   * once it is still, so the five roles spread over the region by the rule.
   * At least `viewSettleMs`: the winner would not claim any sooner.
   */
  handoverSettleMs: number
  /** Deadline of one DHT get or put. */
  dhtTimeoutMs: number
  /**
   * Own-region lease records are checked this often; a role is re-read from
   * the DHT only when gossip has brought no renewal of it for two renew
   * intervals (missed gossip, a holder gone quiet). A steady network reads
   * nothing from the DHT. Also the window in which a change of the region's
   * alive members makes the view "moving": the re-read of a role whose lease
   * is still in force then waits for its lapse (dht-upkeep.ts).
   */
  dhtRefreshMs: number
  /**
   * A holder stores its lease in the DHT on every new term and release, and
   * re-stores a renewal only this often: renewals travel by gossip; the DHT
   * record is there for term history and for readers that missed gossip.
   * Storing every renewal made the DHT the largest idle cost of a daemon.
   */
  dhtPutIntervalMs: number
  /** Random fraction added to every timer, to keep nodes from ticking in lockstep. */
  jitter: number
}

/** Leases longer than this are rejected by the record validator whatever the profile. */
export const MAX_LEASE_MS = 10 * 60_000
/** Leases issued further than this in the future are rejected (generous skew bound). */
export const MAX_FUTURE_ISSUE_MS = 60_000
/** Largest encoded lease record, bytes (a lease is ~200 bytes). */
export const MAX_LEASE_BYTES = 1024
/** Largest encoded role action, bytes. */
export const MAX_ACTION_BYTES = 128 * 1024

export const electionTunables = defineTunables<ElectionConfig>({
  module: 'election',
  schema: z.strictObject({
    leaseMs: tunable.positive(),
    renewIntervalMs: tunable.positive(),
    contactLapseMs: tunable.positive(),
    maxClockSkewMs: tunable.nonNegative(),
    claimSettleMs: tunable.positive(),
    learnPeriodMs: tunable.nonNegative(),
    viewSettleMs: tunable.nonNegative(),
    unsettledClaimMs: tunable.nonNegative(),
    handoverSettleMs: tunable.nonNegative(),
    dhtTimeoutMs: tunable.positive(),
    dhtRefreshMs: tunable.positive(),
    dhtPutIntervalMs: tunable.positive(),
    jitter: tunable.fraction()
  }),
  profiles: {
    // A renewal every 30 s (5 s until the eleventh pass of issue 18, 15 s
    // until the twenty-third): each step halved the lease topic, the largest
    // stream an idle network carries; the last one cut an agent at rest by
    // ≈ 7–11 % (docs/performance.md, twenty-third pass). Failover after a
    // holder dies stays detection + 10 s (contactLapseMs); a holder whose
    // election loop is wedged while its process answers probes is bounded by
    // the lease alone, 90 s.
    lan: {
      leaseMs: 90_000,
      renewIntervalMs: 30_000,
      contactLapseMs: 10_000,
      maxClockSkewMs: 1_000,
      claimSettleMs: 1_000,
      // Shorter than a renew interval: a newcomer that claims before it heard
      // the holder reads the DHT first, and at worst causes the handoff its
      // being the winner would have caused anyway (relations below).
      learnPeriodMs: 5_500,
      viewSettleMs: 2_000,
      unsettledClaimMs: 90_000,
      handoverSettleMs: 60_000,
      dhtTimeoutMs: 10_000,
      dhtRefreshMs: 15_000,
      dhtPutIntervalMs: 60_000,
      jitter: 0.1
    },
    wan: {
      leaseMs: 30_000,
      renewIntervalMs: 10_000,
      contactLapseMs: 30_000,
      maxClockSkewMs: 2_000,
      claimSettleMs: 2_000,
      learnPeriodMs: 11_000,
      viewSettleMs: 4_000,
      unsettledClaimMs: 60_000,
      handoverSettleMs: 120_000,
      dhtTimeoutMs: 20_000,
      dhtRefreshMs: 30_000,
      dhtPutIntervalMs: 120_000,
      jitter: 0.1
    },
    // Every agent of a test runs on one host (one clock): a small skew margin is
    // honest. The lease is not much shorter than lan's because test machines
    // are shared and loaded: event-loop stalls of seconds happen, and a lease
    // shorter than a stall turns into needless handoffs.
    // Its contact lapse ends before a lease this node last saw renewed can
    // lapse in its view (5 + 2 × 1.1 < 8 + 0.3, with a second for delivery):
    // a cut-off node stops claiming before a lapse could tempt it. At 6 s a
    // holder's last renewal seen 2.2 s before the cut let its lease lapse
    // within the cut-off node's contact window, and it claimed a term no peer
    // received (roles-cluster's partition test, once in CI).
    test: {
      leaseMs: 8_000,
      renewIntervalMs: 2_000,
      contactLapseMs: 5_000,
      maxClockSkewMs: 300,
      claimSettleMs: 500,
      learnPeriodMs: 2_500,
      viewSettleMs: 1_000,
      unsettledClaimMs: 16_000,
      handoverSettleMs: 2_000,
      dhtTimeoutMs: 4_000,
      dhtRefreshMs: 8_000,
      dhtPutIntervalMs: 30_000,
      jitter: 0.1
    }
  },
  // The learn period is not tied to the renew interval: a starting node
  // learns the holders by lease sync (lease-sync.ts, start-sync.ts), and a
  // claimant asks a member and reads the DHT before any new term. Claiming
  // early costs at most a needless handoff, since fencing keeps terms
  // ordered, and single-node tests rightly shorten it.
  relations: [
    // The fencing safety relation. A holder acts until maxClockSkewMs before
    // its lease expires by its own clock, the earliest moment a peer whose
    // clock is within the tolerated difference may see the lease lapse and
    // claim. Its renewal, due every renewIntervalMs and up to `jitter` late,
    // must land before then: otherwise every term ends in a lapse, the
    // holder stops and a successor takes over, over and over.
    t => t.leaseMs > t.renewIntervalMs * (1 + t.jitter) + t.maxClockSkewMs
      ? undefined
      : `leaseMs (${t.leaseMs}) must exceed renewIntervalMs × (1 + jitter) + maxClockSkewMs (${Math.ceil(t.renewIntervalMs * (1 + t.jitter) + t.maxClockSkewMs)}): a holder must renew before any peer can see its lease lapse`,
    // A new term is acted on only if, after claimSettleMs of waiting for a
    // competing claim, the lease is still active in the holder's own view
    // (ends maxClockSkewMs early); otherwise no node would ever act.
    t => t.leaseMs > t.claimSettleMs + t.maxClockSkewMs
      ? undefined
      : `leaseMs (${t.leaseMs}) must exceed claimSettleMs + maxClockSkewMs (${t.claimSettleMs + t.maxClockSkewMs}): a new term must still be active once it has settled`,
    // A holder that handed over before the winner would claim leaves the role
    // without a holder for the difference.
    t => t.unsettledClaimMs >= t.viewSettleMs
      ? undefined
      : `unsettledClaimMs (${t.unsettledClaimMs}) must not be below viewSettleMs (${t.viewSettleMs}): it bounds the wait for a still view`,
    t => t.handoverSettleMs >= t.viewSettleMs
      ? undefined
      : `handoverSettleMs (${t.handoverSettleMs}) must not be below viewSettleMs (${t.viewSettleMs}): the winner claims only once the view has been still that long, so an earlier handover leaves the role without a holder`,
    // Every node's record validator refuses longer leases (lease.ts).
    // The contact rule can only shorten a lease: a holder stops when either
    // its lease or its contact runs out.
    t => t.contactLapseMs <= t.leaseMs
      ? undefined
      : `contactLapseMs (${t.contactLapseMs}) must not exceed leaseMs (${t.leaseMs})`,
    // A holder stops maxClockSkewMs before its contact lapses by its own
    // clock: that must leave it time to act at all.
    t => t.contactLapseMs > 2 * t.maxClockSkewMs
      ? undefined
      : `contactLapseMs (${t.contactLapseMs}) must exceed 2 × maxClockSkewMs (${2 * t.maxClockSkewMs})`,
    t => t.leaseMs <= MAX_LEASE_MS
      ? undefined
      : `leaseMs (${t.leaseMs}) must not exceed MAX_LEASE_MS (${MAX_LEASE_MS}), which every node's record validator enforces`,
    // Two clocks may differ by 2 × maxClockSkewMs; a lease from a node that
    // far ahead must not look issued in the future (lease.ts refuses those).
    t => 2 * t.maxClockSkewMs <= MAX_FUTURE_ISSUE_MS
      ? undefined
      : `2 × maxClockSkewMs (${2 * t.maxClockSkewMs}) must not exceed MAX_FUTURE_ISSUE_MS (${MAX_FUTURE_ISSUE_MS}), or honest peers' leases are refused as issued in the future`
  ]
})

/**
 * Read repair (repair.ts): a node that hears a live lease with a lower
 * fencing token than its best restates its best after a random delay below
 * this fraction of the renew interval. Half the interval spreads the nodes
 * that know better, so usually one speaks and the rest hear it and stay
 * quiet, and still corrects the old holder before its next renewal.
 */
export const RESTATE_SPREAD = 0.5

/** DHT record namespace (first key segment) and the lease key prefix. */
export const DHT_NAMESPACE = 'mycel'
export const LEASE_KEY_PREFIX = '/mycel/lease/'
/** Signature domains (see wire/signing.ts). */
export const LEASE_SIGN_DOMAIN = 'role-lease'
export const ACTION_SIGN_DOMAIN = 'role-action'
/** Gossip topic carrying every region's leases (small: regions x roles / renew interval). */
export const LEASE_TOPIC = 'mycel/leases/1'
/** Per-region topic carrying fenced role actions. */
export const actionTopic = (region: string): string => `mycel/role-actions/${region}/1`
