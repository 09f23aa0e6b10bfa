/**
 * Every SWIM tunable in one place, with units and reasons. The anchor is
 * hashicorp/memberlist's DefaultLANConfig / DefaultWANConfig /
 * DefaultLocalConfig; where we differ the comment says why. Three profiles
 * (`lan`, `wan`, `test`) share the shape, validated with the rules below
 * when this module loads; `membershipConfig(profile, overrides)` (=
 * `membershipTunables.create`, lib/tunables.ts) resolves one.
 */
import { z } from 'zod'
import { defineTunables, tunable, type ProfileName } from '../../lib/tunables.js'

export const PROBE_PROTOCOL = '/mycel/probe/1.0.0'
export const PROBE_REQ_PROTOCOL = '/mycel/probe-req/1.0.0'
export const PUSH_PULL_PROTOCOL = '/mycel/pushpull/1.0.0'
/** gossipsub topic carrying membership updates we originate. */
export const MEMBERSHIP_TOPIC = 'mycel/membership/1'
/** Signature domain of every membership update (see wire/signing.ts). */
export const UPDATE_SIGNING_DOMAIN = 'membership/update'

export interface MembershipConfig {
  /** ms between two probes of this node (memberlist ProbeInterval: LAN 1 s, WAN 5 s). Scaled by local health. */
  probeIntervalMs: number
  /** ms to wait for a direct ack before going indirect (memberlist ProbeTimeout: LAN 500 ms, WAN 3 s). Should exceed the 99th percentile RTT. Scaled by local health. */
  probeTimeoutMs: number
  /**
   * ms allowed to open a connection before a probe to a member we are not connected to. Not part of the
   * probe timeout: over TCP + Noise the handshake costs several round trips and CPU, which memberlist's UDP
   * pings never pay, and counting it would turn a busy host's slow handshakes into suspicions.
   */
  connectTimeoutMs: number
  /** members asked to probe a target indirectly after a failed direct probe (memberlist IndirectChecks = 3). */
  indirectChecks: number
  /**
   * Suspicion minimum = suspicionMult × max(1, log10(N)) × probeInterval (memberlist SuspicionMult: LAN 4,
   * WAN 6). Larger means fewer false positives and slower detection of silent (partitioned) members.
   * Our LAN value is 5, one above memberlist: acks travel through a JS event loop shared with Noise and
   * gossipsub over TCP, whose latency tails under CPU pressure are fatter than Go over UDP, and crashed
   * processes do not wait for this timeout anyway (see refusedSuspicionMs).
   */
  suspicionMult: number
  /** Suspicion maximum = this × minimum; the timer starts here and shrinks with confirmations (memberlist SuspicionMaxTimeoutMult = 6). */
  suspicionMaxTimeoutMult: number
  /**
   * ms a suspicion lasts when every probe was actively refused (TCP RST: nothing listens on the member's
   * address any more) rather than unanswered. A refusal is first-hand proof that the process is gone, unlike a
   * timeout which may be loss or a slow host; the window still lets a live member refute. Not in memberlist:
   * UDP has no refusal. This is what makes a killed process "dead" in about a second.
   */
  refusedSuspicionMs: number
  /**
   * ms after which a suspect claim (by its signed `ts`) is stale. Ordering is by incarnation, which signatures
   * make replay-proof; this only drops replays of accusations whose window is long over. Generous, so that
   * clock skew between hosts never matters (the longest LAN suspicion lasts about a minute).
   */
  suspectMaxAgeMs: number
  /**
   * ms after a member joins (or comes back from dead/left) during which a probe that merely timed out does not
   * raise a suspicion; refusals still do. A Node.js agent is at its slowest in its first seconds (JIT, DHT
   * bootstrap, handshakes with every member), and so is a node that just started probing everyone: without
   * this, joins show a burst of suspicions that must all be refuted. Not in memberlist (a Go agent boots fast).
   */
  joinGraceMs: number
  /** Lifeguard local-health ceiling: probe timeouts are multiplied by (score + 1), score < this (memberlist AwarenessMaxMultiplier = 8). */
  awarenessMaxMultiplier: number
  /** A piggybacked update is retransmitted retransmitMult × ceil(log10(N + 1)) times (memberlist RetransmitMult: LAN 4). */
  retransmitMult: number
  /**
   * ms between gossip rounds (memberlist GossipInterval: LAN 200 ms, WAN 500 ms). While updates are queued,
   * each round sends them to gossipNodes random connected members; an empty queue sends nothing.
   */
  gossipIntervalMs: number
  /** Members gossiped to per round (memberlist GossipNodes: LAN 3, WAN 4). */
  gossipNodes: number
  /** Bytes of piggybacked updates carried by one probe or ack (memberlist fills a 1400-byte UDP packet; our streams are TCP). */
  piggybackMaxBytes: number
  /** Updates held for piggybacking; the oldest, most-sent ones are dropped beyond this. */
  piggybackQueueMax: number
  /** ms between periodic push-pull exchanges with one member, a connected one when there is one (memberlist PushPullInterval: LAN 30 s, WAN 60 s; memberlist picks a random member), scaled up above 32 members like memberlist. */
  pushPullIntervalMs: number
  /**
   * ms after joining to the first of the catch-up push-pulls, each twice as
   * far from the last, until the gap reaches the periodic interval (lan: gaps
   * of 2, 4, 8 and 16 s, and 32 s above 32 members). Gossip here goes to connected members only (ring
   * links), so a member that joins while others are joining can miss one of
   * their alive records: its join exchange came before the record reached its
   * partner, and the record's gossip passed before it had links. Unrepaired it
   * waits for the periodic push-pull, 60-90 s at 50-100 members; forming 50
   * agents, all saw all alive 12-54 s after the last start in 4 of 6 runs. A
   * catch-up starts with the 32-byte digest, so one that finds nothing
   * missing costs ~100 bytes. At or above the periodic interval: no catch-up.
   */
  pushPullCatchUpMs: number
  /** ms deadline of one push-pull exchange (memberlist TCPTimeout: LAN 10 s, WAN 30 s). */
  pushPullTimeoutMs: number
  /** ms: at most one on-connect push-pull per peer within this window, so reconnect storms do not become sync storms. */
  pushPullMinGapMs: number
  /**
   * ms between attempts to sync with one random dead member (Serf's reconnect). A member wrongly declared dead
   * across a partition that has healed learns of the claim this way and refutes it; nobody else would dial it.
   */
  reconnectIntervalMs: number
  /** ms a dead or left member stays listed before it is reaped (memberlist GossipToTheDeadTime is 30 s; Serf keeps failed members 24 h; operators want to see who died). */
  reapAfterMs: number
  /** ms a reaped member's last incarnation is remembered, so replayed old alive records cannot resurrect it. */
  tombstoneMs: number
  /** Members (alive or not) tracked at most; beyond it new peers are refused. Guards memory against floods of fake identities. */
  maxMembers: number
  /**
   * ms within which a member's advertised addresses flipping back to the set it had before counts as two
   * processes sharing one identity (a copied key: each keeps refuting the other, so their records alternate).
   * A member that really moves changes its addresses once; memberlist logs the same conflict ("Conflicting
   * address for ...") when two nodes claim one name.
   */
  identityConflictWindowMs: number
  /** ms between two log lines about the same identity conflict (it recurs at gossip speed while it lasts). */
  identityConflictLogMs: number
  /**
   * Global monitoring rings (overlay.ts; Rapid uses K = 10 rings for its
   * stable-view protocol, SWIM needs fewer). Each member is probed by up to
   * this many observers, and a node probes and holds connections to at most
   * 2 x (monitorRings + regionRings) members instead of all N - 1.
   */
  monitorRings: number
  /**
   * Rings over the members of our own region, so per-region gossip topics have a connected mesh. Region ring r
   * is global ring r restricted to the region: in a network of one region they coincide and add no link.
   */
  regionRings: number
  /** Dials to unconnected subjects started per maintenance tick. */
  memberDialsPerTick: number
  /** ms between connection-maintenance / reap / gauge ticks. */
  maintenanceIntervalMs: number
  /** ms leave() waits for the left update to be acknowledged by members before returning. */
  leaveTimeoutMs: number
  /** Largest single signed update, bytes (body + signature). */
  maxUpdateBytes: number
  /** Largest probe / ack / probe-request frame, bytes. */
  maxProbeBytes: number
  /** Largest push-pull frame, bytes (about 300 bytes per member record). */
  maxPushPullBytes: number
  /** Inbound probe streams served at once per connection. */
  maxInboundProbeStreams: number
}

const LAN: MembershipConfig = {
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  connectTimeoutMs: 3_000,
  indirectChecks: 3,
  suspicionMult: 5,
  suspicionMaxTimeoutMult: 6,
  refusedSuspicionMs: 1_000,
  suspectMaxAgeMs: 10 * 60_000,
  joinGraceMs: 10_000,
  awarenessMaxMultiplier: 8,
  retransmitMult: 4,
  // memberlist's LAN values are 200 ms / 3 nodes over UDP. Here each gossip
  // is a new stream (several Noise frames each way), and gossipsub already
  // carries every update to every member: this path is the backup that works
  // before a mesh exists, so it runs at memberlist's WAN pace.
  gossipIntervalMs: 500,
  gossipNodes: 3,
  piggybackMaxBytes: 4_096,
  piggybackQueueMax: 1_024,
  pushPullIntervalMs: 30_000,
  pushPullCatchUpMs: 2_000,
  pushPullTimeoutMs: 10_000,
  pushPullMinGapMs: 2_000,
  reconnectIntervalMs: 30_000,
  reapAfterMs: 60 * 60_000,
  tombstoneMs: 24 * 60 * 60_000,
  maxMembers: 4_096,
  identityConflictWindowMs: 60_000,
  identityConflictLogMs: 30_000,
  monitorRings: 3,
  regionRings: 2,
  // One new connection a second: subjects change one by one as members join.
  memberDialsPerTick: 1,
  maintenanceIntervalMs: 1_000,
  leaveTimeoutMs: 2_000,
  maxUpdateBytes: 2_048,
  maxProbeBytes: 64 * 1024,
  maxPushPullBytes: 4 * 1024 * 1024,
  maxInboundProbeStreams: 64
}

export const membershipTunables = defineTunables<MembershipConfig>({
  module: 'membership',
  schema: z.strictObject({
    probeIntervalMs: tunable.positive(),
    probeTimeoutMs: tunable.positive(),
    connectTimeoutMs: tunable.positive(),
    indirectChecks: tunable.positive(),
    suspicionMult: z.number().positive(),
    suspicionMaxTimeoutMult: z.number().min(1),
    refusedSuspicionMs: tunable.positive(),
    suspectMaxAgeMs: tunable.positive(),
    joinGraceMs: tunable.positive(),
    awarenessMaxMultiplier: tunable.positive(),
    retransmitMult: tunable.positive(),
    gossipIntervalMs: tunable.positive(),
    gossipNodes: tunable.positive(),
    piggybackMaxBytes: tunable.positive(),
    piggybackQueueMax: tunable.positive(),
    pushPullIntervalMs: tunable.positive(),
    pushPullCatchUpMs: tunable.positive(),
    pushPullTimeoutMs: tunable.positive(),
    pushPullMinGapMs: tunable.positive(),
    reconnectIntervalMs: tunable.positive(),
    reapAfterMs: tunable.positive(),
    tombstoneMs: tunable.positive(),
    maxMembers: tunable.positive(),
    identityConflictWindowMs: tunable.positive(),
    identityConflictLogMs: tunable.positive(),
    monitorRings: tunable.positive(),
    regionRings: tunable.positive(),
    memberDialsPerTick: tunable.positive(),
    maintenanceIntervalMs: tunable.positive(),
    leaveTimeoutMs: tunable.positive(),
    maxUpdateBytes: tunable.positive(),
    maxProbeBytes: tunable.positive(),
    maxPushPullBytes: tunable.positive(),
    maxInboundProbeStreams: tunable.positive()
  }),
  profiles: {
    lan: LAN,
    wan: {
      ...LAN,
      probeIntervalMs: 5_000,
      probeTimeoutMs: 3_000,
      connectTimeoutMs: 10_000,
      suspicionMult: 6,
      refusedSuspicionMs: 3_000,
      suspectMaxAgeMs: 30 * 60_000,
      joinGraceMs: 30_000,
      gossipIntervalMs: 500,
      gossipNodes: 4,
      pushPullIntervalMs: 60_000,
      pushPullCatchUpMs: 5_000,
      pushPullTimeoutMs: 30_000,
      pushPullMinGapMs: 5_000,
      reconnectIntervalMs: 60_000,
      reapAfterMs: 6 * 60 * 60_000,
      tombstoneMs: 72 * 60 * 60_000,
      // Lossier paths: one more observer per member.
      monitorRings: 4,
      maintenanceIntervalMs: 2_000,
      leaveTimeoutMs: 5_000
    },
    // Fast timers so tests see a killed member dead in about a second and a
    // silent one in 1.5-3 s, yet a probe timeout (300 ms) that a CI host
    // running many agents on two cores still meets: flaky suspicions in tests
    // are bugs too.
    test: {
      ...LAN,
      probeIntervalMs: 500,
      probeTimeoutMs: 300,
      connectTimeoutMs: 1_000,
      suspicionMult: 3,
      suspicionMaxTimeoutMult: 2,
      refusedSuspicionMs: 400,
      suspectMaxAgeMs: 60_000,
      joinGraceMs: 2_000,
      awarenessMaxMultiplier: 4,
      retransmitMult: 2,
      gossipIntervalMs: 100,
      pushPullIntervalMs: 3_000,
      pushPullCatchUpMs: 500,
      pushPullTimeoutMs: 3_000,
      pushPullMinGapMs: 500,
      reconnectIntervalMs: 2_000,
      reapAfterMs: 30_000,
      tombstoneMs: 5 * 60_000,
      maintenanceIntervalMs: 250,
      leaveTimeoutMs: 1_000
    }
  },
  relations: [
    // The indirect phase (probe-req through indirectChecks members) runs in
    // what is left of the interval after the direct probe timed out.
    t => t.probeTimeoutMs < t.probeIntervalMs
      ? undefined
      : `probeTimeoutMs (${t.probeTimeoutMs}) must be below probeIntervalMs (${t.probeIntervalMs}): the indirect phase needs the rest of the interval`,
    // A refused probe is proof the process is gone; refusedSuspicionMs is its
    // fast path to "dead" and replaces the timeout-based window. At or above
    // the shortest timeout-based suspicion (suspicionMult × probeIntervalMs,
    // clusters up to 10) proof would be slower than silence.
    t => t.refusedSuspicionMs < t.suspicionMult * t.probeIntervalMs
      ? undefined
      : `refusedSuspicionMs (${t.refusedSuspicionMs}) must be below suspicionMult × probeIntervalMs (${t.suspicionMult * t.probeIntervalMs}): a refusal is the fast path to dead`,
    // Push-pull hands each member's current claim, with its signed ts, to
    // peers that missed the gossip; a suspect claim older than
    // suspectMaxAgeMs is dropped as a replay. It must stay acceptable for as
    // long as a healthy node's suspicion can run in a cluster of maxMembers,
    // or a node syncing mid-suspicion would not learn of it.
    t => {
      const longest = t.suspicionMaxTimeoutMult * suspicionTimeoutMs(t.suspicionMult, t.maxMembers, t.probeIntervalMs)
      return t.suspectMaxAgeMs >= longest
        ? undefined
        : `suspectMaxAgeMs (${t.suspectMaxAgeMs}) must cover the longest suspicion at maxMembers, suspicionMaxTimeoutMult × suspicionMult × log10(maxMembers) × probeIntervalMs (${Math.ceil(longest)})`
    },
    // Every update travels inside probes and push-pull frames.
    t => t.maxUpdateBytes <= t.maxProbeBytes && t.maxProbeBytes <= t.maxPushPullBytes
      ? undefined
      : `maxUpdateBytes (${t.maxUpdateBytes}) <= maxProbeBytes (${t.maxProbeBytes}) <= maxPushPullBytes (${t.maxPushPullBytes}) is required: updates travel inside probes and push-pull frames`,
    // A probe carries its own fields (~256 bytes) besides the piggybacked updates.
    t => t.piggybackMaxBytes + 256 <= t.maxProbeBytes
      ? undefined
      : `piggybackMaxBytes (${t.piggybackMaxBytes}) must leave 256 bytes of room in maxProbeBytes (${t.maxProbeBytes})`
  ]
})

/**
 * How many judged updates `SeenUpdates` remembers (seen-updates.ts): every
 * member's current records several times over in a region of a few hundred,
 * at ≈ 250 bytes each (the signature as key, a body digest), ≈ 0.5 MB when
 * full. A push-pull with more members than this turns it over: slower, never
 * wrong.
 */
export const SEEN_UPDATES_MAX = 2_048

/**
 * How often a member's unchanged addresses are written to the peer store
 * again, ms (connections.ts `learnAddrs`): a member's record arrives again
 * on every refutation and metadata change, and each write is a peer-store
 * update and a `peer:update` event. A member whose record does not change
 * is not refreshed by this at all; @libp2p/peer-store (12) keeps addresses
 * an hour, and a connection or identify refreshes them too.
 */
export const LEARNT_ADDRS_REFRESH_MS = 10 * 60_000

/** The profile's tunables with `overrides`, validated: the one way to resolve them. */
export const membershipConfig = (profile: ProfileName, overrides?: Partial<MembershipConfig>): Readonly<MembershipConfig> => membershipTunables.create(profile, overrides)

/** memberlist's suspicionTimeout: the suspicion minimum for a cluster of n, ms. */
export function suspicionTimeoutMs (mult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(mult * nodeScale * intervalMs)
}

/** memberlist's retransmitLimit: how often one update is piggybacked. */
export function retransmitLimit (mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1))
}

/** memberlist's pushPullScale: above 32 members the interval grows with log2(N/32). */
export function pushPullIntervalFor (intervalMs: number, n: number): number {
  const threshold = 32
  if (n <= threshold) return intervalMs
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1
  return intervalMs * multiplier
}
