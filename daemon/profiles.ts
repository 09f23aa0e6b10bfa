/**
 * Transport-level tunables for the three named profiles, validated with the
 * rules below when this module loads; resolve with
 * `libp2pTunables.defaults(profile)` (lib/tunables.ts). Protocol modules
 * keep their own profiles (see protocols/<name>/constants.ts); the agent
 * picks the same profile name for all of them.
 */
import { z } from 'zod'
import { admissionTunables } from '../protocols/admission/constants.js'
import { defineTunables, tunable, type ProfileName } from '../lib/tunables.js'

/** libp2p identify's own timeout, ms (@libp2p/identify `defaultValues.timeout`). */
const IDENTIFY_EXCHANGE_MS = 5_000

/** Identify waits at the admission gate: its own exchange plus the admission wait. */
function identifyTimeout (profile: ProfileName): number {
  return IDENTIFY_EXCHANGE_MS + admissionTunables.defaults(profile).admitWaitMs
}

export interface Libp2pProfile {
  /** Upper bound of open connections; the SWIM overlay keeps far fewer. */
  maxConnections: number
  /** Inbound connections per second accepted from one host. */
  inboundConnectionThreshold: number
  /** Inbound connections still upgrading at once. */
  maxIncomingPendingConnections: number
  /**
   * TCP connect, per address, ms. A live host's kernel answers a SYN from
   * its accept backlog however starved the agent on it is (unless that
   * backlog is full), so a connect that takes long goes to a host that is
   * gone or a path that drops packets; the handshake after it is what a
   * starved host makes slow, and gets the rest of `dialTimeoutMs`. Not
   * shorter than the dial timeout was (10 s): when a blocked event loop
   * wakes, timers run before I/O, so a dialer that was itself stalled past
   * this deadline loses a connect the kernel had completed, and agents on a
   * saturated host have stalled 6–10 s (docs/performance.md).
   */
  tcpConnectTimeoutMs: number
  /**
   * Whole dial (all addresses: TCP connect, Noise, yamux), ms; the
   * responder gives an inbound handshake as long (libp2p's
   * `inboundUpgradeTimeout`). On a loaded host a handshake takes what the
   * two starved processes take to run it, and one aborted half-way has
   * cost both ends CPU for nothing and is redone: at 150 s into a forming
   * network of 100 on two cores, with libp2p's 10 s, 874 of 1,981 outbound
   * dials had failed in the handshake, with 30 s 33 of 1,005
   * (docs/performance.md, twenty-eighth pass). The price: a dial to a live
   * host whose agent hangs holds one of `maxParallelDials` that long, and a
   * silent inbound socket one of `maxIncomingPendingConnections`.
   * go-libp2p's upgrader gives an inbound handshake 15 s (`defaultAcceptTimeout`).
   */
  dialTimeoutMs: number
  /**
   * Outbound dials in progress at once; the rest wait in libp2p's dial queue
   * (by priority) and count their wait against their deadline. libp2p's 100
   * suits a browser or a public-DHT node waiting on the network; a mycel
   * dial waits on CPU (Noise, identify, admission: ≈ 15–25 ms of this side's
   * CPU each). In a forming network of 100 on two cores one agent had 46
   * dials in flight (five lease reads at once, each a kad-dht walk), each got
   * a sliver of a starved process, and most ran out their 10 s unfinished:
   * a dial that waits its turn and gives up costs nothing, one that gives up
   * half-way through a handshake costs both ends (docs/performance.md,
   * nineteenth pass: no change in the failure counts of one run, and none
   * on an unsaturated network).
   */
  maxParallelDials: number
  /**
   * Identify exchange timeout, ms. Identify runs on every new connection and
   * waits at the admission gate until the peer is admitted, so it gets
   * libp2p's 5 s plus the admission wait of the same profile
   * (protocols/admission/constants.ts); derived, so the two cannot drift.
   */
  identifyTimeoutMs: number
  /**
   * A TCP socket that carried no byte either way for this long is closed,
   * ms. yamux's pings (`muxerKeepAliveMs`) keep a live peer's connection
   * above it, so what it reaps is a connection whose peer stopped answering.
   */
  socketInactivityTimeoutMs: number
  /**
   * yamux pings every connection this often, ms, from both ends (a ping and
   * its answer each way per period). Here the pings only keep a quiet
   * connection from being closed as idle, by `socketInactivityTimeoutMs` or
   * a middlebox on the path: membership decides who is alive, and a ping
   * without an answer closes nothing (yamux then sends no more pings on
   * that connection, so the inactivity timeout reaps it one timeout after
   * the last ping). libp2p's 30 s made them about a fifth of an agent's
   * packets at rest (N=20, ≈ 12 connections each: 0.8 pings and answers a
   * second sent, as many received, each a wake-up of a process that was
   * asleep; docs/performance.md, twenty-sixth pass). At most half the inactivity
   * timeout, so a delayed ping still lands in time; `lan` pings every
   * 2 min, under the idle timeouts of cloud firewalls and NATs (Azure's
   * 4 min, AWS's 350 s); `wan` keeps libp2p's 30 s for home NATs.
   */
  muxerKeepAliveMs: number
  /** gossipsub heartbeat, ms (mesh maintenance and IHAVE gossip). */
  gossipHeartbeatMs: number
  /**
   * gossipsub mesh degree: target, low and high watermarks, and the number
   * of non-mesh peers sent IHAVE gossip each heartbeat. Every message
   * reaches a node once per mesh peer, so this is the gossip cost factor —
   * and the mesh settles near `Dhi`, not `D`: every node grafts up to D
   * peers and accepts the grafts of others until it holds more than Dhi
   * (measured at N=10 with Dhi 8: meshes of 6–7, each lease renewal
   * received 5.6 times). Dhi = D + 1 keeps meshes at 4–5;
   * mycel's topics carry few, small, signed messages, and every state they
   * carry is also repaired by anti-entropy, so a thinner mesh than
   * gossipsub's 6/4/12 (built for blockchain-rate traffic) is enough.
   */
  mesh: { D: number, Dlo: number, Dhi: number, Dlazy: number }
  /**
   * Share of non-mesh topic peers sent IHAVE gossip each heartbeat (at
   * least `mesh.Dlazy`). gossipsub's 0.25 makes lazy gossip grow with the
   * number of connections: at 30 connected peers it was half of all
   * gossipsub bytes (IHAVE for every topic to ~6 peers a second) while
   * carrying three messages a second. 0 sends IHAVE to Dlazy peers only.
   */
  gossipFactor: number
  /** Messages at least this large trigger IDONTWANT to mesh peers, bytes. */
  idontwantMinBytes: number
  /** IPs exempt from gossipsub's IP-colocation penalty. */
  ipColocationWhitelist: string[]
  /** Override of gossipsub's IP-colocation weight (0 disables it). */
  ipColocationWeight?: number
  /**
   * kad-dht replication factor (records go to the k closest peers; walks end
   * at the k closest) and query concurrency. libp2p's 20 / 10 are sized for
   * the public IPFS network; in a mycel network of tens of hosts k = 20
   * reached nearly every member, so each node's start-up table refresh and
   * self-query opened connections to almost everyone (the full mesh the
   * membership overlay avoids) and every lease write went to 20 hosts.
   * `selfQueryMs`: kad-dht's self-query, first run and period, ms. Its
   * routing table is filled by membership (daemon/dht-membership.ts), so the
   * walk towards the node's own id finds nobody new; it is kept at an hourly
   * period instead of a second after start and then every 5 minutes, which
   * dialed peers nothing else talks to on every join.
   */
  dht: { kBucketSize: number, alpha: number, selfQueryMs: number }
  /** Keep private addresses in DHT routing (LAN and tests). */
  dhtAllowPrivateAddrs: boolean
  /**
   * Connection trimming (go-libp2p connmgr style, daemon/conn-trimmer.ts):
   * above `highWater` connected peers, idle connections to peers outside
   * the monitoring overlay and older than `graceMs` are closed, oldest
   * first, down to `lowWater`. Checked every `intervalMs`.
   */
  trim: { lowWater: number, highWater: number, graceMs: number, intervalMs: number }
  /** Redial toward bootstrap peers: first backoff and cap, ms. */
  redialMinMs: number
  redialMaxMs: number
  /**
   * A joiner dials one bootstrap peer at a time (daemon/redial.ts): the next
   * one when that dial fails, or when it has not let us in after this long,
   * ms (RFC 8305's staggered attempts). Long enough for a dial and a join
   * exchange on a loaded host; short enough that a silent address delays a
   * join by no more than this.
   */
  bootstrapStaggerMs: number
  /**
   * Joined, the redial loop looks again after a membership change at most
   * this often, ms (daemon/redial.ts): a forming network's changes come by
   * the thousand a minute, and losing the last member is noticed this much
   * later at most.
   */
  redialLookGapMs: number
}

const LOOPBACK = ['127.0.0.1', '::1']
/** kad-dht's self-query period, ms: membership fills its table (daemon/dht-membership.ts). */
const SELF_QUERY_MS = 60 * 60_000
const THIN_MESH = { D: 4, Dlo: 3, Dhi: 5, Dlazy: 2 }
/**
 * `lan`: a mesh of 3 (settling at 3–4) and no lazy IHAVE gossip. On a LAN
 * every topic's state has its own repair path (config anti-entropy,
 * membership push-pull, health catch-up, BFT block sync, leases and role
 * statements re-sent on a period), so IHAVE only repeated what the mesh had
 * delivered: at N=10 it was a third of an idle agent's gossipsub RPCs (2.7 a
 * second, each its own frame), and the fourth mesh peer a quarter of the
 * copies of every message. Together with the slower event-loop sampler,
 * idle CPU per agent fell ≈ 0.3 point (docs/performance.md, eleventh pass).
 */
const LAN_MESH = { D: 3, Dlo: 2, Dhi: 4, Dlazy: 0 }

export const libp2pTunables = defineTunables<Libp2pProfile>({
  module: 'libp2p',
  schema: z.strictObject({
    maxConnections: tunable.positive(),
    inboundConnectionThreshold: tunable.positive(),
    maxIncomingPendingConnections: tunable.positive(),
    tcpConnectTimeoutMs: tunable.positive(),
    dialTimeoutMs: tunable.positive(),
    maxParallelDials: tunable.positive(),
    identifyTimeoutMs: tunable.positive(),
    socketInactivityTimeoutMs: tunable.positive(),
    muxerKeepAliveMs: tunable.positive(),
    gossipHeartbeatMs: tunable.positive(),
    mesh: z.strictObject({ D: tunable.positive(), Dlo: tunable.positive(), Dhi: tunable.positive(), Dlazy: tunable.nonNegative() }),
    gossipFactor: z.number().min(0).max(1),
    idontwantMinBytes: tunable.positive(),
    ipColocationWhitelist: z.array(z.string()),
    // gossipsub score weights of penalties are negative; 0 switches it off.
    ipColocationWeight: z.number().max(0).optional(),
    dht: z.strictObject({ kBucketSize: tunable.positive(), alpha: tunable.positive(), selfQueryMs: tunable.positive() }),
    dhtAllowPrivateAddrs: z.boolean(),
    trim: z.strictObject({ lowWater: tunable.nonNegative(), highWater: tunable.positive(), graceMs: tunable.nonNegative(), intervalMs: tunable.positive() }),
    redialMinMs: tunable.positive(),
    redialMaxMs: tunable.positive(),
    bootstrapStaggerMs: tunable.positive(),
    redialLookGapMs: tunable.positive()
  }),
  profiles: {
    lan: {
      maxConnections: 300,
      inboundConnectionThreshold: 100,
      // Handshakes in progress at once. A bootstrap peer that accepts every
      // joiner at once finishes none of them in time on a loaded host (each
      // needs several event-loop turns) and all are redone; past this cap a
      // joiner is refused at once and retries with backoff, like a full
      // accept backlog.
      maxIncomingPendingConnections: 16,
      // The old whole-dial deadline: a host gone holds a dial slot no longer
      // than before, and a stalled dialer keeps the margin it had.
      tcpConnectTimeoutMs: 10_000,
      // A handshake on a loaded host can take tens of seconds, and an
      // aborted one is CPU thrown away.
      dialTimeoutMs: 30_000,
      maxParallelDials: 8,
      identifyTimeoutMs: identifyTimeout('lan'),
      socketInactivityTimeoutMs: 5 * 60_000,
      muxerKeepAliveMs: 2 * 60_000,
      gossipHeartbeatMs: 1_000,
      mesh: LAN_MESH,
      gossipFactor: 0,
      idontwantMinBytes: 8 * 1024,
      ipColocationWhitelist: LOOPBACK,
      ipColocationWeight: 0,
      dht: { kBucketSize: 10, alpha: 3, selfQueryMs: SELF_QUERY_MS },
      dhtAllowPrivateAddrs: true,
      trim: { lowWater: 24, highWater: 48, graceMs: 2 * 60_000, intervalMs: 10_000 },
      redialMinMs: 500,
      redialMaxMs: 30_000,
      bootstrapStaggerMs: 2_000,
      redialLookGapMs: 1_000
    },
    wan: {
      maxConnections: 300,
      inboundConnectionThreshold: 20,
      maxIncomingPendingConnections: 30,
      // Long round trips and lossy paths: more SYN retransmissions.
      tcpConnectTimeoutMs: 15_000,
      dialTimeoutMs: 30_000,
      // Round trips, not CPU, bound a WAN dial: more of them overlap.
      maxParallelDials: 16,
      identifyTimeoutMs: identifyTimeout('wan'),
      socketInactivityTimeoutMs: 10 * 60_000,
      muxerKeepAliveMs: 30_000,
      gossipHeartbeatMs: 1_000,
      // Lossy paths: keep gossipsub's own degree.
      mesh: { D: 6, Dlo: 4, Dhi: 12, Dlazy: 6 },
      gossipFactor: 0.25,
      idontwantMinBytes: 8 * 1024,
      ipColocationWhitelist: LOOPBACK,
      dht: { kBucketSize: 20, alpha: 10, selfQueryMs: SELF_QUERY_MS },
      dhtAllowPrivateAddrs: false,
      trim: { lowWater: 32, highWater: 64, graceMs: 5 * 60_000, intervalMs: 30_000 },
      redialMinMs: 1_000,
      redialMaxMs: 60_000,
      bootstrapStaggerMs: 5_000,
      redialLookGapMs: 1_000
    },
    test: {
      maxConnections: 300,
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 500,
      // Loopback connects at once; a test process busy for a while sees its
      // connect late (timers run before I/O when a blocked loop wakes).
      tcpConnectTimeoutMs: 2_000,
      dialTimeoutMs: 3_000,
      maxParallelDials: 8,
      identifyTimeoutMs: identifyTimeout('test'),
      socketInactivityTimeoutMs: 5 * 60_000,
      muxerKeepAliveMs: 30_000,
      gossipHeartbeatMs: 250,
      mesh: THIN_MESH,
      gossipFactor: 0,
      idontwantMinBytes: 8 * 1024,
      ipColocationWhitelist: LOOPBACK,
      ipColocationWeight: 0,
      dht: { kBucketSize: 10, alpha: 3, selfQueryMs: SELF_QUERY_MS },
      dhtAllowPrivateAddrs: true,
      trim: { lowWater: 24, highWater: 48, graceMs: 30_000, intervalMs: 5_000 },
      redialMinMs: 100,
      redialMaxMs: 2_000,
      bootstrapStaggerMs: 300,
      redialLookGapMs: 100
    }
  },
  relations: [
    // gossipsub's heartbeat grafts up to D when the mesh is below Dlo and
    // prunes down to D above Dhi; a D outside [Dlo, Dhi] grafts or prunes on
    // every heartbeat.
    t => t.mesh.Dlo <= t.mesh.D && t.mesh.D <= t.mesh.Dhi
      ? undefined
      : `mesh.Dlo (${t.mesh.Dlo}) <= mesh.D (${t.mesh.D}) <= mesh.Dhi (${t.mesh.Dhi}) is required: gossipsub keeps the mesh between the watermarks by moving it to D`,
    // The trimmer closes connections above highWater down to lowWater
    // (conn-trimmer.ts refuses anything else when it starts).
    t => t.trim.lowWater < t.trim.highWater
      ? undefined
      : `trim.lowWater (${t.trim.lowWater}) must be below trim.highWater (${t.trim.highWater})`,
    // Above maxConnections libp2p prunes connections by its own rule, which
    // knows nothing of the membership overlay the trimmer protects; the
    // trimmer must act first.
    t => t.trim.highWater < t.maxConnections
      ? undefined
      : `trim.highWater (${t.trim.highWater}) must be below maxConnections (${t.maxConnections}): the trimmer, which spares the membership overlay, must act before libp2p's own pruning`,
    // A connection whose only traffic is the keep-alive must not look idle,
    // even when a ping is late (the next one is sent after the answer, and
    // a busy event loop delays it further).
    t => t.muxerKeepAliveMs <= t.socketInactivityTimeoutMs / 2
      ? undefined
      : `muxerKeepAliveMs (${t.muxerKeepAliveMs}) must be at most half of socketInactivityTimeoutMs (${t.socketInactivityTimeoutMs}): a quiet connection to a live peer would be closed as idle when a ping is late`,
    // The connect is the first part of a dial; a connect timeout at or above
    // the dial's would never fire.
    t => t.tcpConnectTimeoutMs < t.dialTimeoutMs
      ? undefined
      : `tcpConnectTimeoutMs (${t.tcpConnectTimeoutMs}) must be below dialTimeoutMs (${t.dialTimeoutMs}): the TCP connect is the first part of a dial`,
    // Redial backoff doubles from redialMinMs and is capped at redialMaxMs.
    // Node's timers hold at most 2^31 - 1 ms; a longer one fires at once.
    t => t.dht.selfQueryMs < 2 ** 31
      ? undefined
      : `dht.selfQueryMs (${t.dht.selfQueryMs}) must be below 2^31 ms: a longer timer fires at once`,
    t => t.redialMinMs <= t.redialMaxMs
      ? undefined
      : `redialMinMs (${t.redialMinMs}) must not exceed redialMaxMs (${t.redialMaxMs}), the backoff cap`
  ]
})
