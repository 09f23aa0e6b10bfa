/**
 * The gate of one rollout wave (issue 14, point 2): does the wave pass, must
 * it wait, or has it failed? Nomad's `update` block is the model
 * (min_healthy_time, healthy_deadline, progress_deadline). Pure: the update
 * manager passes in what the nodes report and the time; nothing here reads
 * a clock, so deadlines are tested with plain numbers.
 *
 * Decisions (docs/rollouts.md says the same for operators):
 * - A node is healthy when it is alive (membership), reports the target
 *   version with state `running` and health `passing`, and has been so for
 *   at least `minHealthyTimeMs`. The report's `since` is when the component
 *   entered its state; health has no time of its own on the wire, so the
 *   caller tracks when it first saw `passing` in an unbroken run of reports
 *   (`observePassing`) and the healthy run starts at the later of the two.
 *   Both are lower bounds a restart or a missed report can only move later,
 *   so the gate may wait longer than needed but never passes early.
 * - The wave fails at once when a node on the target version reports
 *   `failed` or health `failing`. The same on another version (a node not
 *   yet switched) is not evidence against the target; if it never gets
 *   there the healthy deadline fails the wave.
 * - A dead node is not healthy, so the wave cannot pass over it, but it
 *   does not fail the wave by itself: it may come back (a reboot, a healed
 *   partition) and its last report is stale, so it is not read. It fails the
 *   wave only when the healthy deadline passes with it still not healthy: a
 *   node that dies during its own wave may well be the new version's doing
 *   (Nomad counts a lost allocation as unhealthy too).
 * - Deadlines: every node must have become healthy no later than
 *   `waveStartedAt + healthyDeadlineMs` (a node that made it late failed at
 *   the deadline, whenever the gate is looked at). The progress deadline
 *   fails a wave that is still waiting `progressDeadlineMs` after the last
 *   progress: the caller's `lastProgressAt` (the rollout's start or its last
 *   passed wave) and then each moment a node of this wave became healthy,
 *   as Nomad resets it on each healthy allocation. A gap longer than the
 *   deadline fails the wave even when a node became healthy after it.
 * - A wave with no node never passes (nothing was shown healthy); it fails
 *   at the healthy deadline. The planner does not make empty waves.
 *
 * Given unchanged reports, both `passed` and `failed` stay so as time goes
 * on (test/managers/rollout/gate.test.ts checks it over generated inputs).
 */
import type { ComponentReport } from '../../protocols/health/report.js'

/** What the gate reads of a component report. */
export type GateReport = Pick<ComponentReport, 'version' | 'state' | 'health' | 'since'>

export interface GateNode {
  peerId: string
  /** Alive per membership; a dead node's report is not read. */
  alive: boolean
  /** Its report for the rolled component; absent when it reports none. */
  report?: GateReport
  /** Unix ms since which the caller has seen health `passing` without a break (`observePassing`); absent when not now. */
  passingSince?: number
}

export interface GateInput {
  nodes: readonly GateNode[]
  /** The version the wave moves its nodes to. */
  target: string
  /** Unix ms at which the wave's nodes were assigned. */
  waveStartedAt: number
  minHealthyTimeMs: number
  healthyDeadlineMs: number
  progressDeadlineMs: number
  /** Unix ms of the rollout's last progress: its start, or when its previous wave passed. */
  lastProgressAt: number
  now: number
}

export const GATE_FAIL_REASONS = ['node-failed', 'health-failing', 'healthy-deadline', 'progress-deadline'] as const
/** Why a gate failed; a metrics label (gate failures by reason). */
export type GateFailReason = typeof GATE_FAIL_REASONS[number]

export interface GateNodeResult {
  peerId: string
  ok: boolean
  /** One line on where the node stands. */
  detail: string
}

export interface GateResult {
  verdict: 'waiting' | 'passed' | 'failed'
  /** Set when failed. */
  reason?: GateFailReason
  /** One line: the failure, or what the wave waits for. */
  detail?: string
  nodes: GateNodeResult[]
  /** Unix ms at which looking again can change a waiting verdict with no new report (a node's min healthy time, a deadline). */
  nextCheckAt?: number
}

/** A node's standing: healthy since when, failed, or waiting (with the time its min healthy time will be met, if on the way). */
type Standing =
  | { kind: 'healthy', healthyAt: number, detail: string }
  | { kind: 'failed', reason: 'node-failed' | 'health-failing', detail: string }
  | { kind: 'waiting', healthyAt?: number, detail: string }

function standing (node: GateNode, input: GateInput): Standing {
  if (!node.alive) return { kind: 'waiting', detail: 'dead (membership)' }
  const r = node.report
  if (r === undefined) return { kind: 'waiting', detail: 'no report for the component' }
  if (r.version !== input.target) return { kind: 'waiting', detail: `on ${r.version} (${r.state}), not ${input.target}` }
  if (r.state === 'failed') return { kind: 'failed', reason: 'node-failed', detail: `${input.target} failed` }
  if (r.health === 'failing') return { kind: 'failed', reason: 'health-failing', detail: `${input.target} health failing` }
  if (r.state !== 'running') return { kind: 'waiting', detail: `${input.target} ${r.state}` }
  if (r.health !== 'passing' || node.passingSince === undefined) return { kind: 'waiting', detail: `${input.target} running, health ${r.health === 'passing' ? 'passing not yet observed' : r.health}` }
  const healthyAt = Math.max(r.since, node.passingSince) + input.minHealthyTimeMs
  if (healthyAt <= input.now) return { kind: 'healthy', healthyAt, detail: `${input.target} healthy` }
  return { kind: 'waiting', healthyAt, detail: `${input.target} passing, healthy at ${healthyAt}` }
}

/** Evaluate the wave's gate at `input.now`. */
export function evaluateGate (input: GateInput): GateResult {
  const standings = input.nodes.map(n => ({ peerId: n.peerId, s: standing(n, input) }))
  const nodes = standings.map(({ peerId, s }) => ({ peerId, ok: s.kind === 'healthy', detail: s.detail }))

  const failedNode = standings.find(x => x.s.kind === 'failed')
  if (failedNode !== undefined && failedNode.s.kind === 'failed') {
    return { verdict: 'failed', reason: failedNode.s.reason, detail: `${failedNode.peerId}: ${failedNode.s.detail}`, nodes }
  }
  const healthyAts: number[] = []
  for (const x of standings) if (x.s.kind === 'healthy') healthyAts.push(x.s.healthyAt)
  const waiting = standings.filter(x => x.s.kind !== 'healthy')
  const allHealthy = waiting.length === 0 && standings.length > 0

  // Every failure has the moment it happened; the earliest one is the reason, so a
  // verdict looked at later (unchanged reports) names the same one.
  const failures: Array<{ at: number, reason: GateFailReason, detail: string }> = []
  const healthyDeadline = input.waveStartedAt + input.healthyDeadlineMs
  const late = standings.find(x => x.s.kind === 'healthy' && x.s.healthyAt > healthyDeadline)
  if (late !== undefined) failures.push({ at: healthyDeadline, reason: 'healthy-deadline', detail: `${late.peerId}: healthy only after the deadline` })
  if (!allHealthy && input.now >= healthyDeadline) {
    const first = waiting[0]
    failures.push({ at: healthyDeadline, reason: 'healthy-deadline', detail: first === undefined ? 'no node in the wave' : `${first.peerId}: ${first.s.detail} at the healthy deadline` })
  }
  // Progress: a node becoming healthy. A gap longer than the deadline between
  // two progresses failed the wave at the first one's deadline, even if the
  // second came later; while waiting, so does the time since the last.
  let progressAt = input.lastProgressAt
  for (const h of healthyAts.sort((a, b) => a - b)) {
    if (h - progressAt > input.progressDeadlineMs) {
      failures.push({ at: progressAt + input.progressDeadlineMs, reason: 'progress-deadline', detail: `no progress since ${progressAt}` })
      break
    }
    progressAt = Math.max(progressAt, h)
  }
  const progressDeadline = progressAt + input.progressDeadlineMs
  if (!allHealthy && input.now >= progressDeadline) failures.push({ at: progressDeadline, reason: 'progress-deadline', detail: `no progress since ${progressAt}` })

  if (failures.length > 0) {
    // Earliest first; at equal times the healthy deadline (pushed first) names the node.
    const first = failures.reduce((a, b) => b.at < a.at ? b : a)
    return { verdict: 'failed', reason: first.reason, detail: first.detail, nodes }
  }
  if (allHealthy) return { verdict: 'passed', nodes }

  // The earliest moment the verdict can change with no new report.
  let nextCheckAt = Math.min(healthyDeadline, progressDeadline)
  for (const x of waiting) if (x.s.kind === 'waiting' && x.s.healthyAt !== undefined) nextCheckAt = Math.min(nextCheckAt, x.s.healthyAt)
  const first = waiting[0]
  return { verdict: 'waiting', detail: first === undefined ? 'no node in the wave' : `${first.peerId}: ${first.s.detail}`, nodes, nextCheckAt }
}

/** The unbroken run of `passing` the caller tracks per node (the `passingSince` the gate reads). */
export interface PassingRun {
  version: string
  /** The report's `since` when the run began: a new `since` is a new process, so a new run. */
  since: number
  passingSince: number
}

/**
 * Fold one report into a node's passing run. The run starts at the first
 * report seen `running` and `passing` (its `issuedAt`: the earliest moment
 * health is known to pass) and ends at any other report, another version or
 * a new `since` (a restart). A new update manager starts with no runs, so
 * min healthy time restarts after a failover: later, never early.
 */
export function observePassing (previous: PassingRun | undefined, report: GateReport | undefined, issuedAt: number): PassingRun | undefined {
  if (report === undefined || report.state !== 'running' || report.health !== 'passing') return undefined
  if (previous !== undefined && previous.version === report.version && previous.since === report.since) return previous
  return { version: report.version, since: report.since, passingSince: Math.max(issuedAt, report.since) }
}
