/**
 * The network manager's placement duty: while this node holds the region's
 * network role in `term`, place every counted deployment that applies to
 * the region (placement.ts through placement-record.ts) and keep its record
 * in replicated config under the holder's term (placement-namespace.ts).
 * System deployments (no `count`) need no record: every node derives them
 * from the deployment alone (desired.ts).
 *
 * A round: read the deployments and the records in force; build each
 * region member's facts from membership and its latest health report; run
 * `nextPlacementRecord` on the record in force; write this term's record
 * when it changed; then delete the superseded keys (older terms) and the
 * records of deployments that are gone. A record of a newer term means a
 * newer holder exists: this one writes and deletes nothing for that
 * deployment (it would be ignored anyway; fencing is the readers').
 *
 * Rounds run every `intervalMs`, and `KICK_DELAY_MS` after a change of
 * `mycel.deployments` or a member declared dead or left, so an instance
 * moves off a dead node without waiting for the period. Before its first
 * round a new holder pulls replicated config from a few live members, so a
 * holder that has just joined continues from the last record instead of
 * placing from nothing (which would move every instance).
 */
import type { Logger } from 'pino'
import type { Member, MembershipView } from '../protocols/membership/types.js'
import type { HealthReport } from '../protocols/health/report.js'
import { DEPLOYMENTS_NAMESPACE, parseDeployment, type Deployment } from './deployment.js'
import { nextPlacementRecord } from './placement-record.js'
import type { NodeFacts, Placement } from './placement.js'
import { currentPlacements, placementKey, placementSlot, PLACEMENTS_NAMESPACE } from './placement-namespace.js'
import type { PlacementMetrics } from './metrics.js'
import { kickedRounds, pullConfig, PULL_MIN_MS } from './kicked-rounds.js'

export { KICK_DELAY_MS, SYNC_PEERS } from './kicked-rounds.js'

/** The slice of replicated config (protocols/config-sync ConfigService) the duty reads and writes. */
export interface PlacementConfig {
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
  /** `trace` traces the write (protocols/config-sync WriteOptions): a rollout's progress carries the rollout's trace. */
  write: (ns: string, key: string, value: unknown, opts?: { deleted?: boolean, trace?: { parent?: string } }) => Promise<unknown>
  onChange: (listener: (e: { ns: string }) => void) => () => void
  /** One anti-entropy round with `peer`; a new holder pulls before it decides. */
  syncWith?: (peer: string) => Promise<void>
}

export interface PlacementDutyInit {
  region: string
  /** Undefined while the config service does not run (not started, stopped on a fault): no round then. */
  config: () => PlacementConfig | undefined
  membership: Pick<MembershipView, 'self' | 'members'> & Partial<Pick<MembershipView, 'addEventListener' | 'removeEventListener'>>
  health: { reports: () => Array<{ report: HealthReport }> }
  logger: Logger
  metrics: PlacementMetrics
}

/** One deployment's placement failed in a round (a write refused); the others went on. */
export class PlacementFailedError extends Error {
  static name = 'PlacementFailedError'
  override name = 'PlacementFailedError'
}

export interface PlacementRoundResult {
  /** Deployments whose record this round wrote. */
  written: string[]
  /** Keys deleted (superseded terms, undeployed). */
  deleted: string[]
  /** Deployments skipped because a newer term's record exists. */
  superseded: string[]
  /** Placement per deployment, when placed. */
  placements: Record<string, Placement>
  /**
   * Deployments whose round failed (a write refused: the namespace's ACL, a
   * record over the value size limit). One failing deployment does not stop
   * the others; `run` reports each as a duty error.
   */
  failed: Array<{ deployment: string, err: unknown }>
}

/**
 * Facts of the region's members for `d`. A member with a report is
 * described by it. A dead or left member needs none (its instance moves
 * whatever it reported). An alive or suspect member whose report has not
 * reached this node yet cannot be judged: it gets no new instance, and an
 * instance it holds stays, as on a suspect node — so it is described as
 * suspect, meeting the constraints it was placed under, with nothing free.
 * A new holder therefore moves nothing it has no facts about.
 */
export function regionFacts (region: string, members: readonly Member[], reports: ReadonlyMap<string, HealthReport>, d: Deployment): NodeFacts[] {
  const facts: NodeFacts[] = []
  for (const m of members) {
    if (m.region !== region) continue
    const r = reports.get(m.peerId)
    if (r !== undefined) {
      facts.push({
        peerId: m.peerId,
        region: m.region,
        state: m.state,
        freeMemoryBytes: r.memory.freeBytes,
        diskFreeBytes: r.diskFreeBytes,
        load: r.load[0],
        cpus: r.cpus,
        labels: r.labels ?? {},
        components: (r.components ?? []).map(c => ({ name: c.name, version: c.version, state: c.state }))
      })
    } else {
      const known = m.state === 'dead' || m.state === 'left'
      facts.push({ peerId: m.peerId, region: m.region, state: known ? m.state : 'suspect', freeMemoryBytes: 0, diskFreeBytes: 0, load: 0, cpus: 0, labels: known ? {} : { ...d.constraints }, components: [] })
    }
  }
  return facts
}

export class PlacementDuty {
  private last?: { at: number, term: number, placed: Record<string, string[]>, unplaced: Record<string, number> }
  private readonly log: Logger

  constructor (private readonly init: PlacementDutyInit) {
    this.log = init.logger.child({ duty: 'placement' })
  }

  /**
   * Rounds in `term` until `signal` aborts: now (after pulling config), every
   * `intervalMs`, and KICK_DELAY_MS after a change. One round at a time.
   */
  run (term: number, signal: AbortSignal, intervalMs: number, onError: (err: unknown) => void): void {
    const { membership } = this.init
    const pullMs = Math.max(intervalMs, PULL_MIN_MS)
    const kick = kickedRounds({
      signal,
      intervalMs,
      round: async () => {
        const r = await this.round(term, signal)
        if (!signal.aborted) for (const f of r.failed) onError(f.err)
        return undefined
      },
      onError,
      // A new holder places only after it pulled replicated config from a live
      // member (or there is none): placing from a replica that lacks the last
      // record would move every instance. A pull that fails is tried again.
      before: async () => await pullConfig(this.init.config(), membership, signal, pullMs, this.log),
      beforeRetryMs: pullMs / 5
    })
    const offConfig = this.init.config()?.onChange((e) => { if (e.ns === DEPLOYMENTS_NAMESPACE) kick() })
    membership.addEventListener?.('member:dead', kick)
    membership.addEventListener?.('member:left', kick)
    signal.addEventListener('abort', () => {
      offConfig?.()
      membership.removeEventListener?.('member:dead', kick)
      membership.removeEventListener?.('member:left', kick)
      this.init.metrics.unplaced.reset()
    }, { once: true })
  }

  /** One placement round as the holder of `term`. */
  async round (term: number, signal?: AbortSignal): Promise<PlacementRoundResult> {
    const result: PlacementRoundResult = { written: [], deleted: [], superseded: [], placements: {}, failed: [] }
    const config = this.init.config()
    if (config === undefined) return result
    const { region, metrics } = this.init
    const counted = new Map<string, Deployment>()
    for (const [key, { value }] of config.entries(DEPLOYMENTS_NAMESPACE)) {
      try {
        const d = parseDeployment(value)
        if (d.name === key && d.count !== undefined && (d.regions === undefined || d.regions.includes(region))) counted.set(d.name, d)
      } catch { /* refused by the namespace's rule on arrival; a stored one from an older rule is not ours to place */ }
    }
    const current = currentPlacements(config.entries(PLACEMENTS_NAMESPACE))
    const members = this.init.membership.members()
    const reports = new Map(this.init.health.reports().map(r => [r.report.peerId, r.report]))
    const now = Date.now()
    const placed: Record<string, string[]> = {}
    const unplaced: Record<string, number> = {}
    const remove = async (key: string): Promise<void> => {
      await config.write(PLACEMENTS_NAMESPACE, key, undefined, { deleted: true })
      metrics.writes.inc({ op: 'delete' })
      result.deleted.push(key)
    }

    for (const d of [...counted.values()].sort((a, b) => a.name < b.name ? -1 : 1)) {
      if (signal?.aborted === true) return result
      try {
        const cur = current.byDeployment.get(placementSlot(region, d.name))
        if (cur !== undefined && cur.record.term > term) {
          // A newer holder decided; ours would be ignored by every reader.
          metrics.superseded.inc()
          metrics.unplaced.remove({ deployment: d.name })
          result.superseded.push(d.name)
          continue
        }
        const next = nextPlacementRecord(cur?.record, d, regionFacts(region, members, reports, d), term, now)
        const p = next.placement
        result.placements[d.name] = p
        placed[d.name] = p.assignments.map(a => a.node)
        unplaced[d.name] = p.unplaced
        metrics.unplaced.set({ deployment: d.name }, p.unplaced)
        if (next.changed) {
          await config.write(PLACEMENTS_NAMESPACE, placementKey(region, d.name, term), next.record)
          metrics.writes.inc({ op: 'write' })
          result.written.push(d.name)
          for (const s of p.stop) {
            metrics.decisions.inc({ action: 'stop', reason: s.reason })
            this.log.info({ deployment: d.name, version: d.version, node: s.node, reason: s.reason, term }, 'placement: stop instance')
          }
          for (const s of p.start) {
            metrics.decisions.inc({ action: 'start', reason: s.reason })
            this.log.info({ deployment: d.name, version: d.version, node: s.node, reason: s.reason, replaces: s.replaces, term }, 'placement: start instance')
          }
          if (p.unplaced > 0 && this.last?.unplaced[d.name] !== p.unplaced) {
            this.log.warn({ deployment: d.name, count: d.count, unplaced: p.unplaced, problems: p.problems }, 'placement: not enough eligible nodes in the region')
          }
        }
        // Superseded terms go only after this term's record is written (same writer: applied in order everywhere).
        const stale = [...(cur?.older ?? []), ...(cur !== undefined && cur.record.term < term ? [cur.key] : [])]
        for (const key of stale) await remove(key)
      } catch (err) {
        result.failed.push({ deployment: d.name, err: new PlacementFailedError(`placement of ${d.name} failed: ${(err as Error).message}`, { cause: err }) })
      }
    }

    // Records of deployments that are gone (undeployed, now a system deployment, or no longer in this region).
    for (const cur of current.byDeployment.values()) {
      if (cur.region !== region || counted.has(cur.deployment) || cur.record.term > term) continue
      if (signal?.aborted === true) return result
      for (const key of [cur.key, ...cur.older]) await remove(key)
      metrics.unplaced.remove({ deployment: cur.deployment })
      this.log.info({ deployment: cur.deployment, term }, 'placement: records of a removed deployment deleted')
    }
    this.last = { at: now, term, placed, unplaced }
    return result
  }

  /** For the role's status: the last round's assignment and shortfall per deployment. */
  status (): unknown {
    return this.last
  }
}
