/**
 * One step of a region's rollout, as a pure function of the region's
 * progress record in force, the rollout record, what the region's nodes
 * report, and the time: start the next wave, tell more of the active wave's
 * nodes to switch (within `maxUnavailable`), judge the wave's gate, and pass
 * or fail the wave. The update manager (driver.ts) writes the result under
 * its term; any holder that reads the same records and reports takes the
 * same step, and a step taken twice (a round repeated after a failover)
 * changes nothing more, because everything it decides is in the record.
 */
import { evaluateGate, type GateNode, type GateReport } from './gate.js'
import type { RegionProgress, Wave } from './progress.js'
import type { Rollout } from './record.js'
import { nextAssignable, type NodeStatus } from './waves.js'

/** One target node of the region as the update manager sees it now. */
export interface StepNode {
  /** Alive in membership. */
  alive: boolean
  /** Its report of the rolled component, if it reports one. */
  report?: GateReport
  /** Since when (unix ms) the update manager has seen it pass health without a break (gate.ts observePassing). */
  passingSince?: number
}

export interface StepInput {
  rollout: Rollout
  progress: RegionProgress
  /** The region's target nodes: every node of every wave (others may be absent: unknown). */
  nodes: ReadonlyMap<string, StepNode>
  now: number
  /**
   * The new version's manifest has a health check. Without one, a running
   * component counts as passing (its report's health stays `unknown`), as
   * Nomad judges a task with no checks by its running state.
   */
  healthCheck: boolean
  /**
   * Whether a new wave may start. The driver says no while this node sees
   * no majority of the network alive (a cut-off side): the current wave is
   * still judged, and may pass or fail, but nothing beyond it starts until
   * the partition heals, so a region cut off from the operator (who may be
   * pausing or rolling back) does not run ahead. Default true.
   */
  mayStartWave?: boolean
}

export type StepDecision =
  | { kind: 'wave-started', wave: number, nodes: number }
  | { kind: 'assigned', wave: number, nodes: string[] }
  | { kind: 'wave-passed', wave: number, durationMs: number }
  | { kind: 'wave-failed', wave: number, reason: string, detail: string }
  | { kind: 'region-passed' }

export interface StepResult {
  progress: RegionProgress
  changed: boolean
  decisions: StepDecision[]
  /** Unix ms at which stepping again can change something with no new report (a min healthy time, a deadline). */
  nextCheckAt?: number
}

/** The report as the gate should read it: no health check means a running component passes. */
export function gateReport (report: GateReport | undefined, healthCheck: boolean): GateReport | undefined {
  if (report === undefined || healthCheck || report.health !== 'unknown' || report.state !== 'running') return report
  return { ...report, health: 'passing' }
}

function cloneProgress (p: RegionProgress): RegionProgress {
  return { ...p, waves: p.waves.map(w => ({ ...w, nodes: [...w.nodes], assigned: [...w.assigned] })), ...(p.failure !== undefined ? { failure: { ...p.failure } } : {}) }
}

/** Min healthy time for the wave: none for a promoted canary wave (`mycel rollout promote`). */
function minHealthyFor (r: Rollout, waveIndex: number): number {
  return r.control.promoted && r.canary > 0 && waveIndex === 0 ? 0 : r.minHealthyTimeMs
}

/** Take one step. Only a `running` region moves; anything else comes back unchanged. */
export function stepRegion (input: StepInput): StepResult {
  const { rollout: r, now } = input
  const p = cloneProgress(input.progress)
  const decisions: StepDecision[] = []
  if (p.state !== 'running') return { progress: input.progress, changed: false, decisions }
  const resumedAt = r.control.resumedAt ?? 0
  let nextCheckAt: number | undefined

  // Each pass either ends the step or passes a wave, so the loop is bounded by the waves.
  for (;;) {
    let index = p.waves.findIndex(w => w.state === 'active')
    if (index < 0) {
      index = p.waves.findIndex(w => w.state === 'pending')
      if (index >= 0 && input.mayStartWave === false) break
      if (index < 0) {
        p.state = 'passed'
        p.passedAt = now
        decisions.push({ kind: 'region-passed' })
        break
      }
      const w = p.waves[index] as Wave
      w.state = 'active'
      w.startedAt = now
      decisions.push({ kind: 'wave-started', wave: index, nodes: w.nodes.length })
    }
    const wave = p.waves[index] as Wave
    const minHealthyTimeMs = minHealthyFor(r, index)
    const gateNodes: GateNode[] = wave.nodes.map(peerId => {
      const n = input.nodes.get(peerId)
      const report = gateReport(n?.report, input.healthCheck)
      const passingSince = n?.passingSince ?? (input.healthCheck ? undefined : passingWithoutCheck(report))
      return { peerId, alive: n?.alive ?? false, ...(report !== undefined ? { report } : {}), ...(passingSince !== undefined ? { passingSince } : {}) }
    })
    const gate = evaluateGate({
      nodes: gateNodes,
      target: r.to,
      // A pause does not eat into the deadlines: they count from the resume at the earliest.
      // A wave's start is progress too (it may come long after the last pass, held back by a partition).
      waveStartedAt: Math.max(wave.startedAt ?? now, resumedAt),
      lastProgressAt: Math.max(p.lastProgressAt, resumedAt, wave.startedAt ?? now),
      minHealthyTimeMs,
      healthyDeadlineMs: r.healthyDeadlineMs,
      progressDeadlineMs: r.progressDeadlineMs,
      now
    })
    if (gate.verdict === 'failed') {
      wave.state = 'failed'
      p.state = 'failed'
      p.failure = { at: now, reason: gate.reason ?? 'healthy-deadline', detail: (gate.detail ?? '').slice(0, 512), wave: index }
      decisions.push({ kind: 'wave-failed', wave: index, reason: p.failure.reason, detail: p.failure.detail })
      break
    }
    if (gate.verdict === 'passed') {
      wave.state = 'passed'
      wave.passedAt = now
      wave.assigned = [...wave.nodes]
      p.lastProgressAt = now
      decisions.push({ kind: 'wave-passed', wave: index, durationMs: now - (wave.startedAt ?? now) })
      continue
    }
    // Waiting: switch more of the wave while the component stays within maxUnavailable.
    const fresh = nextAssignable({ wave: wave.nodes, nodes: statuses(input, p, minHealthyTimeMs), to: r.to, maxUnavailable: r.maxUnavailable ?? wave.nodes.length })
      .filter(n => !wave.assigned.includes(n))
    if (fresh.length > 0) {
      wave.assigned.push(...fresh)
      decisions.push({ kind: 'assigned', wave: index, nodes: fresh })
    }
    nextCheckAt = gate.nextCheckAt
    break
  }
  return { progress: p, changed: decisions.length > 0, decisions, ...(nextCheckAt !== undefined ? { nextCheckAt } : {}) }
}

function passingWithoutCheck (report: GateReport | undefined): number | undefined {
  return report?.state === 'running' && report.health === 'passing' ? report.since : undefined
}

/**
 * Every target node's status for `nextAssignable`: a node on the new
 * version counts as healthy only once it passed health for min healthy time
 * (so the next one is not taken down before the last one proved itself);
 * one on another version when it runs and passes health.
 */
function statuses (input: StepInput, p: RegionProgress, minHealthyTimeMs: number): NodeStatus[] {
  const out: NodeStatus[] = []
  for (const w of p.waves) {
    for (const peerId of w.nodes) {
      const n = input.nodes.get(peerId)
      const report = gateReport(n?.report, input.healthCheck)
      const passing = report?.state === 'running' && report.health === 'passing'
      const since = n?.passingSince ?? (input.healthCheck ? undefined : passingWithoutCheck(report))
      const healthy = report?.version === input.rollout.to
        ? passing && since !== undefined && Math.max(since, report.since) + minHealthyTimeMs <= input.now
        : passing
      out.push({
        peerId,
        up: n?.alive ?? false,
        ...(report !== undefined ? { version: report.version } : {}),
        healthy,
        assigned: w.state === 'passed' || w.assigned.includes(peerId)
      })
    }
  }
  return out
}
