/**
 * The measurement the benchmark and the tests run on a simulated cluster:
 *  1. join: start every node (bootstraps, then joiners) and run until every
 *     node sees every other alive;
 *  2. steady state: after a settling period, count every frame each node
 *     sends and receives over a window, per node per second;
 *  3. failure: kill `kills` random nodes at once and time, per victim, the
 *     first suspicion anywhere, the first node to call it dead, and the moment
 *     the last survivor does; count suspicions and deaths of live nodes.
 * Time is virtual; the wall time each phase cost is reported beside it.
 */
import { SimCluster, type ClusterInit, type Sighting } from './cluster.js'
import type { Traffic } from './fabric.js'
import { pushPullIntervalFor, retransmitLimit, suspicionTimeoutMs } from '../../protocols/membership/constants.js'

export interface ScenarioInit extends ClusterInit {
  /** Virtual ms the join may take before the run gives up. @default 600 s */
  joinMaxMs?: number
  /** Virtual ms between convergence and the start of the steady window (joins' gossip drains). @default 30 s */
  settleMs?: number
  /** Virtual ms of the steady-state window. @default 60 s */
  steadyMs?: number
  /** Nodes killed at once. @default 1 */
  kills?: number
  /** `silent` (host lost: only timeouts tell) or `crash` (process gone: connections close, dials refused). @default silent */
  killHow?: 'silent' | 'crash'
  /** Virtual ms to wait for every survivor to see every victim dead. @default 10 min */
  detectMaxMs?: number
  /** Progress lines (phase ends), for long runs. */
  progress?: (line: string) => void
}

export interface Spread { mean: number, p50: number, p99: number, max: number }

export interface ScenarioResult {
  n: number
  seed: number
  loss: number
  latencyMs: readonly [number, number]
  /** Virtual ms from the first start to all-see-all-alive; undefined if it never converged. */
  joinMs?: number
  steady: {
    windowMs: number
    /** Per node, frames (requests and responses) and bytes (payload + length prefix) per second. */
    sentMsgsPerSec: Spread
    sentBytesPerSec: Spread
    recvMsgsPerSec: Spread
    recvBytesPerSec: Spread
    /** Frames per node per second by protocol (requests + responses), and bytes. */
    byProtocol: Record<string, { msgsPerNodePerSec: number, bytesPerNodePerSec: number }>
    falseSuspicions: number
    falseDeaths: number
  }
  detection: {
    how: 'silent' | 'crash'
    victims: number
    /** Virtual ms after the kill, worst victim (max over victims) and mean over victims. */
    firstSuspicionMs: { mean: number, max: number }
    deadAtFirstMs: { mean: number, max: number }
    deadAtAllMs: { mean: number, max: number }
    /** deadAtAll − deadAtFirst: how long the verdict took to reach every survivor, ms and in probe intervals. */
    disseminationMs: { mean: number, max: number }
    disseminationProbeIntervals: number
    /** Survivors that never saw some victim dead within detectMaxMs. */
    undetected: number
    /** Suspicions and deaths of nodes that were not killed, from the kill to the end. */
    falseSuspicions: number
    falseDeaths: number
  }
  /** What the tunables give at this N (constants.ts), for comparison. */
  expected: { suspicionMinMs: number, suspicionMaxMs: number, retransmitLimit: number, pushPullIntervalMs: number }
  verify: { verified: number, reused: number }
  wallMs: { create: number, join: number, steady: number, detection: number, total: number }
  heapUsedMB: number
}

export async function runScenario (init: ScenarioInit): Promise<ScenarioResult> {
  const say = init.progress ?? (() => {})
  const wall0 = performance.now()
  const cluster = await SimCluster.create(init)
  const wallCreated = performance.now()
  await cluster.start()
  const joinMs = await cluster.runUntil(() => cluster.converged(), init.joinMaxMs ?? 600_000, 1_000, (ms) => {
    if (ms % 10_000 !== 0) return
    const least = Math.min(...cluster.nodes.map(n => n.aliveCount))
    say(`N=${init.n}: joining, ${ms / 1000} virtual s: every node sees at least ${least} of ${init.n - 1} alive (${Math.round((performance.now() - wallCreated) / 1000)} s wall, heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB)`)
  })
  const wallJoined = performance.now()
  say(`N=${init.n}: joined in ${joinMs ?? 'never'} virtual ms (${Math.round((wallJoined - wallCreated) / 1000)} s wall)`)
  if (joinMs === undefined) throw new Error(`N=${init.n}: the cluster did not converge within ${init.joinMaxMs ?? 600_000} virtual ms`)

  // Steady state.
  await cluster.run(init.settleMs ?? 30_000)
  const windowMs = init.steadyMs ?? 60_000
  const trafficBefore = snapshot(cluster.fabric.traffic)
  const protoBefore = structuredClone(Object.fromEntries(cluster.fabric.byProtocol))
  const steadyFrom = cluster.now()
  await cluster.run(windowMs)
  const rates = perNodeRates(trafficBefore, cluster.fabric.traffic, windowMs)
  const byProtocol: ScenarioResult['steady']['byProtocol'] = {}
  for (const [proto, p] of cluster.fabric.byProtocol) {
    const b = protoBefore[proto] ?? { requests: 0, requestBytes: 0, responses: 0, responseBytes: 0 }
    const secs = windowMs / 1000
    byProtocol[proto] = {
      msgsPerNodePerSec: round((p.requests + p.responses - b.requests - b.responses) / init.n / secs),
      bytesPerNodePerSec: round((p.requestBytes + p.responseBytes - b.requestBytes - b.responseBytes) / init.n / secs)
    }
  }
  const inSteady = (s: Sighting): boolean => s.at >= steadyFrom
  const wallSteady = performance.now()
  say(`N=${init.n}: steady ${rates.sentMsgsPerSec.mean} msgs/s, ${rates.sentBytesPerSec.mean} B/s per node (${Math.round((wallSteady - wallJoined) / 1000)} s wall)`)

  // Failure.
  const how = init.killHow ?? 'silent'
  const victims = pick(cluster.nodes.map(n => n.id), init.kills ?? 1, cluster.rand)
  const dead = new Set(victims)
  const killedAt = cluster.now()
  cluster.kill(victims, how)
  const survivors = cluster.upNodes()
  const seenDead = (): boolean => survivors.every(s => victims.every(v => s.swim.get(v)?.state === 'dead'))
  await cluster.runUntil(seenDead, init.detectMaxMs ?? 600_000, 100)
  const after = (s: Sighting): boolean => s.at >= killedAt
  const perVictim = victims.map(v => {
    const sus = cluster.suspects.filter(s => s.subject === v && after(s)).map(s => s.at - killedAt)
    const firstDeath = new Map<string, number>()
    for (const s of cluster.deaths) {
      if (s.subject === v && after(s) && !firstDeath.has(s.observer)) firstDeath.set(s.observer, s.at - killedAt)
    }
    const atSurvivors = survivors.map(s => firstDeath.get(s.id)).filter((x): x is number => x !== undefined)
    return {
      firstSuspicion: sus.length > 0 ? Math.min(...sus) : NaN,
      deadFirst: atSurvivors.length > 0 ? Math.min(...atSurvivors) : NaN,
      deadAll: atSurvivors.length === survivors.length ? Math.max(...atSurvivors) : NaN,
      missing: survivors.length - atSurvivors.length
    }
  })
  const wallDetected = performance.now()
  const falseAfter = (list: Sighting[]): number => list.filter(s => after(s) && !dead.has(s.subject) && !dead.has(s.observer)).length
  const dissemination = perVictim.map(v => v.deadAll - v.deadFirst)
  const cfg = init.config
  const result: ScenarioResult = {
    n: init.n,
    seed: init.seed,
    loss: init.loss ?? 0,
    latencyMs: init.latencyMs ?? [0.2, 1],
    joinMs,
    steady: {
      windowMs,
      ...rates,
      byProtocol,
      falseSuspicions: cluster.suspects.filter(s => inSteady(s) && s.at < killedAt).length,
      falseDeaths: cluster.deaths.filter(s => inSteady(s) && s.at < killedAt).length
    },
    detection: {
      how,
      victims: victims.length,
      firstSuspicionMs: meanMax(perVictim.map(v => v.firstSuspicion)),
      deadAtFirstMs: meanMax(perVictim.map(v => v.deadFirst)),
      deadAtAllMs: meanMax(perVictim.map(v => v.deadAll)),
      disseminationMs: meanMax(dissemination),
      disseminationProbeIntervals: round(meanMax(dissemination).mean / cfg.probeIntervalMs),
      undetected: perVictim.reduce((a, v) => a + v.missing, 0),
      falseSuspicions: falseAfter(cluster.suspects),
      falseDeaths: falseAfter(cluster.deaths)
    },
    expected: {
      suspicionMinMs: suspicionTimeoutMs(cfg.suspicionMult, init.n, cfg.probeIntervalMs),
      suspicionMaxMs: cfg.suspicionMaxTimeoutMult * suspicionTimeoutMs(cfg.suspicionMult, init.n, cfg.probeIntervalMs),
      retransmitLimit: retransmitLimit(cfg.retransmitMult, init.n),
      pushPullIntervalMs: pushPullIntervalFor(cfg.pushPullIntervalMs, init.n)
    },
    verify: { ...cluster.verifier.counts },
    wallMs: {
      create: Math.round(wallCreated - wall0),
      join: Math.round(wallJoined - wallCreated),
      steady: Math.round(wallSteady - wallJoined),
      detection: Math.round(wallDetected - wallSteady),
      total: Math.round(wallDetected - wall0)
    },
    heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1e6)
  }
  say(`N=${init.n}: ${how} kill of ${victims.length}: dead at all survivors after ${result.detection.deadAtAllMs.max} virtual ms (${Math.round((wallDetected - wallSteady) / 1000)} s wall)`)
  return result
}

function snapshot (t: ReadonlyMap<string, Traffic>): Map<string, Traffic> {
  return new Map([...t].map(([id, x]) => [id, { ...x }]))
}

function perNodeRates (before: Map<string, Traffic>, now: ReadonlyMap<string, Traffic>, windowMs: number): Pick<ScenarioResult['steady'], 'sentMsgsPerSec' | 'sentBytesPerSec' | 'recvMsgsPerSec' | 'recvBytesPerSec'> {
  const secs = windowMs / 1000
  const col = (k: keyof Traffic): Spread => spread([...now].map(([id, t]) => (t[k] - (before.get(id)?.[k] ?? 0)) / secs))
  return { sentMsgsPerSec: col('sentMsgs'), sentBytesPerSec: col('sentBytes'), recvMsgsPerSec: col('recvMsgs'), recvBytesPerSec: col('recvBytes') }
}

function spread (values: number[]): Spread {
  const s = [...values].sort((a, b) => a - b)
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]
  return { mean: round(s.reduce((a, b) => a + b, 0) / s.length), p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1]) }
}

function meanMax (values: number[]): { mean: number, max: number } {
  return { mean: round(values.reduce((a, b) => a + b, 0) / values.length), max: round(Math.max(...values)) }
}

function pick<T> (items: T[], k: number, rand: () => number): T[] {
  const pool = [...items]
  const out: T[] = []
  while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0])
  return out
}

function round (x: number): number { return Math.round(x * 1000) / 1000 }
