/**
 * The update manager's rollout duty: while this node holds the region's
 * update role in `term`, move every running rollout that includes the
 * region one step (step.ts) and write the region's progress under the
 * holder's term (progress.ts), so that the records, not this process, are
 * the rollout's memory: a holder killed between two rounds is replaced, and
 * its successor continues from the record in force.
 *
 * A round, per rollout that includes this region:
 * - derive its state (state.ts); only `running` moves. A `succeeded` one has
 *   its version written into the deployment by the last region's holder
 *   (after that the rollout no longer speaks for any node).
 * - regions roll in order: this region starts only when every earlier one
 *   passed; then its waves are planned once from the nodes that run the
 *   component now, and written.
 * - a record of a newer term means a newer holder exists: nothing is written
 *   (readers would ignore it anyway; fencing is the readers').
 * - step, write this term's record when something changed, then delete the
 *   superseded terms' keys.
 *
 * Partitions: a holder that sees no majority of the network's members
 * alive starts no new wave (it still judges the current one), so a region
 * cut off from the rest, and from the operator's pause or rollback, does
 * not run ahead; it resumes when healed.
 *
 * Rounds run every `intervalMs` while nothing runs, every `activeIntervalMs`
 * (or sooner, at the gate's next deadline) while a rollout runs, and soon
 * after a change of the rollouts, their progress or the deployments. Every
 * decision is logged and sent as a fenced action `rollout` with the rollout id.
 *
 * Tracing (docs/tracing.md): a round that writes a progress record of a
 * rollout whose record carries a trace (`tc`, its start) records a span
 * `rollout` `acted` as a child of it; that progress write and the round's
 * decision actions are children of the step, so each receiver's hops hang
 * under it in `mycel trace`.
 */
import type { Logger } from 'pino'
import type { MembershipView } from '../../protocols/membership/types.js'
import type { HealthReport } from '../../protocols/health/report.js'
import { DEPLOYMENTS_NAMESPACE, parseDeployment, type Deployment } from '../deployment.js'
import { desiredReleases } from '../desired.js'
import { kickedRounds, pullConfig, PULL_MIN_MS } from '../kicked-rounds.js'
import { PLACEMENTS_NAMESPACE } from '../placement-namespace.js'
import type { PlacementConfig } from '../placement-duty.js'
import type { Emit } from '../role.js'
import { observePassing, type PassingRun } from './gate.js'
import { currentProgress, progressKey, progressOf, progressSlot, ROLLOUT_PROGRESS_NAMESPACE, type RegionProgress } from './progress.js'
import { checkRolloutEntry, parseRollout, ROLLOUTS_NAMESPACE, type Rollout, type RolloutState } from './record.js'
import { rolloutState } from './state.js'
import { gateReport, stepRegion, type StepDecision, type StepNode } from './step.js'
import { pendingWaves, planWaves } from './waves.js'
import { checkCompatibility, describeProblem } from './compat.js'
import type { RolloutMetrics } from './metrics.js'
import type { Tracer } from '../../wire/tracing.js'
import { ROLLOUT_SPAN } from './operator.js'

/** What the update manager needs of a release's manifest. */
export interface ReleaseFacts {
  /** The manifest has a health check. */
  healthCheck: boolean
  /** The manifest's `requires` (requirement name -> semver range). */
  requires?: Readonly<Record<string, string>>
}

/** Replicated config as the duty reads and writes it (the same slice as placement's). */
export type RolloutConfig = PlacementConfig

export interface RolloutDutyInit {
  region: string
  config: () => RolloutConfig | undefined
  membership: Pick<MembershipView, 'self' | 'members'> & Partial<Pick<MembershipView, 'addEventListener' | 'removeEventListener'>>
  health: { reports: () => Array<{ report: HealthReport }> }
  /**
   * What the duty needs of a release's manifest; undefined when the release
   * is not known here (then it is assumed to have a health check: the gate
   * waits for `passing`, never passes a component on its running state
   * alone; and no requirement can be checked, so none is).
   */
  releaseFacts?: (component: string, version: string) => ReleaseFacts | undefined
  emit?: Emit
  logger: Logger
  metrics: RolloutMetrics
  tracer?: Tracer
}

/** What a round did, for tests and the role's status. */
export interface RolloutRoundResult {
  /** Rollout ids whose progress this round wrote. */
  written: string[]
  /** Keys deleted (superseded terms). */
  deleted: string[]
  /** Rollout ids left alone because a newer term's record exists. */
  superseded: string[]
  /** Deployments whose version this round set to a succeeded rollout's. */
  finished: string[]
  decisions: Array<{ id: string, decision: StepDecision }>
  /** Whether a rollout of this region is running (rounds come faster then). */
  active: boolean
  /** Delay to the earliest gate deadline or min healthy time, ms. */
  nextInMs?: number
}

export class RolloutDuty {
  private readonly log: Logger
  /** Passing runs per `<rollout id>/<peer>`; a new holder starts with none (min healthy time restarts: later, never early). */
  private readonly runs = new Map<string, PassingRun>()
  /** The state each rollout was last seen in, to count transitions once. */
  private readonly seen = new Map<string, RolloutState>()
  /** Rollouts whose next wave is held back by a partition (logged once). */
  private readonly heldBack = new Set<string>()
  private last?: { at: number, term: number, rollouts: Array<{ id: string, component: string, state: RolloutState }> }

  constructor (private readonly init: RolloutDutyInit) {
    this.log = init.logger.child({ duty: 'rollout' })
  }

  /** Rounds in `term` until `signal` aborts (kicked-rounds.ts). */
  run (term: number, signal: AbortSignal, intervals: { intervalMs: number, activeIntervalMs: number }, onError: (err: unknown) => void): void {
    this.runs.clear()
    this.seen.clear()
    const pullMs = Math.max(intervals.intervalMs, PULL_MIN_MS)
    const kick = kickedRounds({
      signal,
      intervalMs: intervals.intervalMs,
      round: async () => {
        const r = await this.round(term, signal)
        if (!r.active) return undefined
        return Math.min(intervals.activeIntervalMs, r.nextInMs ?? intervals.activeIntervalMs)
      },
      onError,
      // A new holder steps only after it pulled replicated config from a live
      // member: stepping from a replica that lacks the last progress record
      // would plan a region again.
      before: async () => await pullConfig(this.init.config(), this.init.membership, signal, pullMs, this.log),
      beforeRetryMs: pullMs / 5
    })
    const watched = new Set([ROLLOUTS_NAMESPACE, ROLLOUT_PROGRESS_NAMESPACE, DEPLOYMENTS_NAMESPACE])
    const offConfig = this.init.config()?.onChange((e) => { if (watched.has(e.ns)) kick() })
    this.init.membership.addEventListener?.('member:dead', kick)
    signal.addEventListener('abort', () => {
      offConfig?.()
      this.init.membership.removeEventListener?.('member:dead', kick)
      this.init.metrics.rollouts.reset()
      this.init.metrics.nodesPerVersion.reset()
    }, { once: true })
  }

  /** One round as the holder of `term`. */
  async round (term: number, signal?: AbortSignal): Promise<RolloutRoundResult> {
    const result: RolloutRoundResult = { written: [], deleted: [], superseded: [], finished: [], decisions: [], active: false }
    const config = this.init.config()
    if (config === undefined) return result
    const { region, metrics } = this.init
    const now = Date.now()
    const current = currentProgress(config.entries(ROLLOUT_PROGRESS_NAMESPACE))
    const deployments = new Map<string, Deployment>()
    for (const [key, { value }] of config.entries(DEPLOYMENTS_NAMESPACE)) {
      try {
        const d = parseDeployment(value)
        if (d.name === key) deployments.set(d.name, d)
      } catch { /* refused on arrival by the namespace's rule */ }
    }
    const everyone = this.init.membership.members()
    const members = everyone.filter(m => m.region === region)
    // A side that sees no majority of the network alive may be cut off from the operator: no new wave starts there.
    const known = everyone.filter(m => m.state !== 'left')
    const mayStartWave = 2 * known.filter(m => m.state === 'alive').length > known.length
    const reports = new Map(this.init.health.reports().map(r => [r.report.peerId, r.report]))
    this.exportVersions(members.map(m => m.peerId), reports)

    const rollouts: Rollout[] = []
    for (const [key, { value }] of config.entries(ROLLOUTS_NAMESPACE)) {
      try {
        checkRolloutEntry(key, value)
        const r = parseRollout(value)
        if (r.regions.includes(region)) rollouts.push(r)
      } catch { /* refused on arrival */ }
    }
    rollouts.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
    const states: RolloutState[] = []
    metrics.rollouts.reset()
    for (const r of rollouts) {
      // Demoted during an earlier write of this round: a holder that lost its lease writes nothing more.
      if (signal?.aborted === true) return result
      const progress = progressOf(current, r.id, r.regions)
      const state = rolloutState(r, progress)
      states.push(state)
      metrics.rollouts.inc({ region, state })
      this.noteState(r, state, progress)
      const inForce = current.bySlot.get(progressSlot(r.id, region))
      if (inForce !== undefined && inForce.term > term) {
        metrics.superseded.inc()
        result.superseded.push(r.id)
        continue
      }
      if (state === 'succeeded') {
        await this.finish(r, deployments, config, result, signal)
        continue
      }
      if (state !== 'running') continue
      // Regions roll one after another.
      const index = r.regions.indexOf(region)
      if (r.regions.slice(0, index).some(x => progress.get(x)?.state !== 'passed')) continue
      const d = deployments.get(r.component)
      if (d === undefined || d.version !== r.from) {
        this.log.warn({ rollout: r.id, component: r.component, from: r.from, deployment: d?.version }, 'rollout: the deployment no longer says the rollout\'s from version; nothing to roll')
        continue
      }
      result.active = true
      // Once per rollout and round: what the new version's manifest says.
      const facts = this.init.releaseFacts?.(r.component, r.to)
      const healthCheck = facts?.healthCheck ?? true
      const base = inForce?.record ?? this.plan(r, d, members, reports, config, term, now, facts?.requires)
      const nodes = this.observe(r, base, members, reports, healthCheck)
      const step = stepRegion({ rollout: r, progress: base, nodes, now, healthCheck, mayStartWave })
      if (!mayStartWave && !this.heldBack.has(r.id)) {
        this.heldBack.add(r.id)
        this.log.warn({ rollout: r.id, alive: known.filter(m => m.state === 'alive').length, known: known.length }, 'rollout: no majority of the network alive from here; no new wave starts until it is')
      } else if (mayStartWave) this.heldBack.delete(r.id)
      if (step.nextCheckAt !== undefined) result.nextInMs = Math.min(result.nextInMs ?? Infinity, Math.max(0, step.nextCheckAt - now))
      // A new holder writes its term's record at once, even with nothing new: from then on
      // every reader ignores what the old holder may still write under its own term.
      if (step.changed || inForce === undefined || inForce.term < term) {
        // Demoted or frozen while this round read and stepped: nothing is written, the next holder (or the thaw) steps again.
        if (aborted(signal)) return result
        const record: RegionProgress = { ...step.progress, term }
        const span = r.tc === undefined ? undefined : this.init.tracer?.start(ROLLOUT_SPAN, 'acted', r.tc, { rollout: r.id, region, term, decisions: step.decisions.map(d => d.kind).join(',') })
        const trace = span !== undefined ? { trace: { parent: span.traceparent } } : {}
        try {
          await config.write(ROLLOUT_PROGRESS_NAMESPACE, progressKey(r.id, region, term), record, trace)
          metrics.writes.inc({ op: 'progress' })
          result.written.push(r.id)
          for (const decision of step.decisions) await this.decided(r, term, decision, result, span?.traceparent)
          span?.end()
        } catch (err) {
          // The write or a decision failed: the step's span still ends, with the error.
          span?.end({}, err)
          throw err
        }
        // Superseded terms go only after this term's record is written (one writer: applied in order everywhere).
        const stale = [...(inForce?.older ?? []), ...(inForce !== undefined && inForce.term < term ? [inForce.key] : [])]
        for (const key of stale) {
          if (aborted(signal)) return result
          await config.write(ROLLOUT_PROGRESS_NAMESPACE, key, undefined, { deleted: true })
          metrics.writes.inc({ op: 'progress-delete' })
          result.deleted.push(key)
        }
      }
    }
    this.last = { at: now, term, rollouts: rollouts.map((r, i) => ({ id: r.id, component: r.component, state: states[i] as RolloutState })) }
    return result
  }

  /** The region's first progress record: waves over the nodes that run the component now (or should, by the deployment). */
  private plan (r: Rollout, d: Deployment, members: ReadonlyArray<{ peerId: string, state: string }>, reports: ReadonlyMap<string, HealthReport>,
    config: RolloutConfig, term: number, now: number, requires: Readonly<Record<string, string>> | undefined): RegionProgress {
    const placements = config.entries(PLACEMENTS_NAMESPACE)
    const targets: string[] = []
    for (const m of members) {
      if (m.state === 'dead' || m.state === 'left') continue
      const report = reports.get(m.peerId)
      // A member that has not reported is not known to run the component; it runs the deployment's version when it does.
      if (report === undefined) continue
      const runs = (report.components ?? []).some(c => c.name === r.component)
      const wants = desiredReleases({ peerId: m.peerId, region: this.init.region, labels: report.labels ?? {} }, [[d.name, { value: d }]], placements)
        .releases.some(x => x.name === d.name && x.keepOnly !== true)
      if (runs || wants) targets.push(m.peerId)
    }
    const waves = pendingWaves(planWaves({ rolloutId: r.id, nodes: targets, canary: r.canary, maxParallel: r.maxParallel }))
    const base = { id: r.id, region: this.init.region, term, startedAt: now, lastProgressAt: now, waves }
    // Every target node against the new manifest's requires, before anything changes here.
    const compat = checkCompatibility(requires, targets.map(peerId => {
      const report = reports.get(peerId) as HealthReport
      return { peerId, mycel: report.version, components: (report.components ?? []).map(c => ({ name: c.name, version: c.version })) }
    }))
    if (!compat.ok) {
      const detail = `${compat.problems.length} incompatible: ${compat.problems.slice(0, 3).map(describeProblem).join('; ')}`.slice(0, 512)
      this.init.metrics.gateFailures.inc({ reason: 'incompatible' })
      this.log.warn({ rollout: r.id, component: r.component, to: r.to, region: this.init.region, problems: compat.problems.slice(0, 20), term }, 'rollout: region refused, target nodes incompatible')
      return { ...base, state: 'failed', failure: { at: now, reason: 'incompatible', detail, wave: 0 } }
    }
    this.log.info({ rollout: r.id, component: r.component, to: r.to, region: this.init.region, nodes: targets.length, waves: waves.length, term }, 'rollout: region started, waves planned')
    return { ...base, state: 'running', waves }
  }

  /** Every wave node's view, folding the latest reports into the passing runs. */
  private observe (r: Rollout, p: RegionProgress, members: ReadonlyArray<{ peerId: string, state: string }>, reports: ReadonlyMap<string, HealthReport>, healthCheck: boolean): Map<string, StepNode> {
    const alive = new Set(members.filter(m => m.state === 'alive').map(m => m.peerId))
    const nodes = new Map<string, StepNode>()
    for (const w of p.waves) {
      for (const peerId of w.nodes) {
        const report = reports.get(peerId)
        const c = report?.components?.find(x => x.name === r.component)
        const key = `${r.id}/${peerId}`
        const run = report === undefined ? undefined : observePassing(this.runs.get(key), gateReport(c, healthCheck), report.issuedAt)
        if (run === undefined) this.runs.delete(key)
        else this.runs.set(key, run)
        nodes.set(peerId, { alive: alive.has(peerId), ...(c !== undefined ? { report: c } : {}), ...(run !== undefined ? { passingSince: run.passingSince } : {}) })
      }
    }
    return nodes
  }

  /** A succeeded rollout: the last region's holder writes its version into the deployment, once. */
  private async finish (r: Rollout, deployments: Map<string, Deployment>, config: RolloutConfig, result: RolloutRoundResult, signal?: AbortSignal): Promise<void> {
    if (r.regions[r.regions.length - 1] !== this.init.region) return
    const d = deployments.get(r.component)
    if (d === undefined || d.version !== r.from || signal?.aborted === true) return
    await config.write(DEPLOYMENTS_NAMESPACE, d.name, { ...d, version: r.to })
    // A rollout started from `to` (start.ts) is stepped later in this same round, against this round's deployments.
    deployments.set(d.name, { ...d, version: r.to })
    this.init.metrics.writes.inc({ op: 'deployment' })
    result.finished.push(d.name)
    this.log.info({ rollout: r.id, component: r.component, from: r.from, to: r.to }, 'rollout: succeeded; the deployment now says the new version')
    await this.init.emit?.('update', 'rollout', { id: r.id, region: this.init.region, decision: { kind: 'succeeded', version: r.to } })
  }

  private async decided (r: Rollout, term: number, decision: StepDecision, result: RolloutRoundResult, parent?: string): Promise<void> {
    const { metrics } = this.init
    result.decisions.push({ id: r.id, decision })
    const fields = { rollout: r.id, component: r.component, to: r.to, region: this.init.region, term, ...decision }
    switch (decision.kind) {
      case 'assigned': metrics.assignments.inc(decision.nodes.length); this.log.info(fields, 'rollout: nodes told to switch'); break
      case 'wave-passed': metrics.waveSeconds.observe({ component: r.component }, decision.durationMs / 1000); this.log.info(fields, 'rollout: wave passed its gate'); break
      case 'wave-failed':
        metrics.gateFailures.inc({ reason: decision.reason })
        if (r.autoRevert) metrics.rollbacks.inc({ trigger: 'gate' })
        this.log.warn({ ...fields, autoRevert: r.autoRevert }, r.autoRevert ? 'rollout: gate failed; rolling back every touched node' : 'rollout: gate failed; rollout failed and paused'); break
      default: this.log.info(fields, `rollout: ${decision.kind}`)
    }
    await this.init.emit?.('update', 'rollout', { id: r.id, region: this.init.region, term, decision }, parent)
  }

  /**
   * Count an operator's rollback once per holder that saw the rollout open
   * before (a gate's is counted where the gate failed, in `decided`).
   */
  private noteState (r: Rollout, state: RolloutState, progress: ReadonlyMap<string, RegionProgress>): void {
    const before = this.seen.get(r.id)
    this.seen.set(r.id, state)
    if (before === undefined || before === state || state !== 'rolled-back' || r.control.state !== 'rollback') return
    this.init.metrics.rollbacks.inc({ trigger: 'operator' })
    this.log.warn({ rollout: r.id, component: r.component, to: r.to, regions: [...progress.keys()] }, 'rollout: rolled back')
  }

  /** Nodes per component version among the region's members' reports. */
  private exportVersions (members: readonly string[], reports: ReadonlyMap<string, HealthReport>): void {
    const g = this.init.metrics.nodesPerVersion
    g.reset()
    for (const peerId of members) {
      for (const c of reports.get(peerId)?.components ?? []) g.inc({ component: c.name, version: c.version })
    }
  }

  /** For the role's status. */
  status (): unknown {
    return this.last
  }
}

/** Read anew at each call: an await in between may have aborted it (TypeScript would narrow a repeated `signal?.aborted`). */
function aborted (signal: AbortSignal | undefined): boolean { return signal?.aborted === true }
