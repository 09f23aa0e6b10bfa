/**
 * The monitoring manager's alerting duty (issue 16): while this node holds
 * the region's monitoring role in `term`, every tick (alerting-tunables.ts)
 *
 *  1. scrape: the region's series from membership and the signed health
 *     reports (series-source.ts), the anomaly scores of the node series
 *     (anomaly.ts) and Prometheus's `ALERTS` series, into the series store;
 *  2. evaluate the rule groups that are due (rule-evaluation.ts) and step
 *     each rule's alerts through the lifecycle (alert-lifecycle.ts);
 *  3. write the alerts whose lifecycle changed (alert-records.ts);
 *  4. deliver what is not muted (suppression.ts) to the Alertmanagers
 *     (Prometheus's resend rule) and webhooks (notification log: a new
 *     holder does not repeat what its predecessor delivered).
 *
 * Nothing is evaluated or delivered before the new holder has pulled
 * replicated config from live members and read the alert state and the
 * notification log (alertmanager#3026: an HA peer that acted before its
 * state settled sent what its peers had already sent, and missed
 * inhibitions). History (the series store) and anomaly baselines live in
 * the holder's memory: a new holder's `rate(x[5m])` sees only what it has
 * scraped itself, and its detectors warm up again (docs/monitoring.md).
 */
import type { Logger } from 'pino'
import type { HealthReport } from '../../protocols/health/report.js'
import type { MembershipView } from '../../protocols/membership/types.js'
import type { PlacementConfig } from '../placement-duty.js'
import { kickedRounds, pullConfig } from '../kicked-rounds.js'
import { EMPTY_RULE_STATE, evaluate as stepLifecycle, MAX_ALERTS_TOTAL, type Alert, type EvalOutcome, type RuleAlertState } from './alert-lifecycle.js'
import { fingerprint } from './matchers.js'
import { loadAlertStates, planAlertWrites, type RuleStates } from './alert-records.js'
import type { AlertingTunables } from './alerting-tunables.js'
import { AnomalyDetectors, type AnomalyConfig } from './anomaly.js'
import { type DeliveryMetrics, type FetchLike } from './delivery.js'
import { AlertSender } from './alert-sender.js'
import { MONITORING_NAMESPACE, validEntries, SILENCES_PREFIX } from './records.js'
import { RULES_KEY, INHIBIT_RULES_KEY, parseTextRecord } from './rules-record.js'
import { parseRuleFile } from './rule-file.js'
import { parseInhibitFile } from './inhibit-file.js'
import { compileRules, evalRule, type CompiledGroup } from './rule-evaluation.js'
import { SeriesStore, type SeriesStoreTunables } from './series-store.js'
import { ANOMALY_SERIES, nodeValues, regionSeries, type ScrapedSample } from './series-source.js'
import { silencesToDrop, type Silence } from './silences.js'
import { suppression } from './suppression.js'
import type { AlertingMetrics } from './alerting-metrics.js'
import type { InhibitRule } from './types.js'

/** A write of an alert record or a silence deletion that config refused; the round went on without it. */
export class AlertRecordWriteError extends Error {
  static name = 'AlertRecordWriteError'
  override name = 'AlertRecordWriteError'
}

export interface AlertingDutyInit {
  region: string
  /** Replicated config; undefined while the config service does not run (no round then). */
  config: () => PlacementConfig | undefined
  membership: Pick<MembershipView, 'self' | 'members'>
  health: { reports: () => Array<{ report: HealthReport, stale?: boolean }> }
  tunables: Readonly<AlertingTunables>
  store: Readonly<SeriesStoreTunables>
  anomaly: Readonly<AnomalyConfig>
  /** Delivery targets of this agent (config `alertmanagers`, `alertWebhooks`). */
  targets: { alertmanagers: readonly string[], webhooks: readonly string[] }
  metrics: AlertingMetrics
  deliveryMetrics: DeliveryMetrics
  logger: Logger
  fetch?: FetchLike
}

interface TermState {
  term: number
  store: SeriesStore
  detectors: AnomalyDetectors
  lastIssued: Map<string, number>
  states: RuleStates
  lastEval: Map<string, number>
  sender: AlertSender
  ready: boolean
  /** When the alert state was read and scraping began: the series history starts here. */
  readyAt: number
  lastRoundAt?: number
  errors: Map<string, string>
}

export interface AlertingStatus {
  ready: boolean
  term: number
  rules: number
  pending: number
  firing: number
  resolved: number
  lastRoundAt?: number
  ruleErrors: Array<{ rule: string, error: string }>
  rulesProblem?: string
}

/** `stepped`, with the pending and firing alerts of `before` that it dropped or resolved put back as they were. */
function keepCarriedOver (before: RuleAlertState, stepped: EvalOutcome): EvalOutcome {
  if (stepped.error !== undefined) return stepped
  const next = new Map(stepped.state.alerts.map(a => [fingerprint(a.labels), a]))
  for (const a of before.alerts) {
    if (a.state === 'resolved') continue
    const fp = fingerprint(a.labels)
    const n = next.get(fp)
    if (n === undefined || n.state === 'resolved') next.set(fp, a)
  }
  return { state: { alerts: [...next.entries()].sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0).map(([, a]) => a) } }
}

export class AlertingDuty {
  private groups: CompiledGroup[] = []
  private rulesText?: string
  private rulesProblem?: string
  private inhibit: InhibitRule[] = []
  private inhibitText?: string
  private current?: TermState
  private readonly log: Logger

  constructor (private readonly init: AlertingDutyInit) {
    this.log = init.logger.child({ duty: 'alerting' })
  }

  /** Start the duty for `term`; stops when `signal` aborts. */
  run (term: number, signal: AbortSignal, onError: (err: unknown) => void): void {
    const t: TermState = {
      term,
      store: new SeriesStore(this.init.store),
      detectors: new AnomalyDetectors({ config: this.init.anomaly }),
      lastIssued: new Map(),
      states: { byRule: new Map() },
      lastEval: new Map(),
      sender: new AlertSender({ region: this.init.region, term, targets: this.init.targets, tunables: this.init.tunables, metrics: this.init.deliveryMetrics, logger: this.log, config: this.init.config, ...(this.init.fetch !== undefined ? { fetch: this.init.fetch } : {}) }),
      ready: false,
      readyAt: Infinity,
      errors: new Map()
    }
    this.current = t
    signal.addEventListener('abort', () => {
      void t.sender.stop()
      if (this.current === t) this.current = undefined
      this.init.metrics.clear(this.init.region)
    }, { once: true })
    kickedRounds({
      signal,
      intervalMs: this.init.tunables.evalIntervalMs,
      before: async () => {
        const config = this.init.config()
        if (config === undefined) return false
        if (!await pullConfig(config, this.init.membership, signal, this.init.tunables.pullTimeoutMs, this.log)) return false
        const entries = config.entries(MONITORING_NAMESPACE)
        t.states = loadAlertStates(entries, this.init.region)
        t.sender.load(entries)
        t.sender.start()
        t.ready = true
        t.readyAt = Date.now()
        const n = [...t.states.byRule.values()].reduce((s, r) => s + r.state.alerts.length, 0)
        this.log.info({ term, alerts: n }, 'alert state read; evaluating and delivering')
        return true
      },
      round: async () => {
        const failed = await this.round(t, signal)
        if (!signal.aborted) for (const err of failed) onError(err)
        return undefined
      },
      onError
    })
  }

  private readSettings (entries: Array<[string, { value: unknown }]>): void {
    const rules = entries.find(([k]) => k === RULES_KEY)?.[1].value
    const text = rules === undefined ? '' : (rules as { text?: unknown }).text
    if (text !== this.rulesText) {
      this.rulesText = typeof text === 'string' ? text : ''
      try {
        this.groups = rules === undefined ? [] : compileRules(parseTextRecord('rule file', rules, parseRuleFile).parsed)
        this.rulesProblem = undefined
        this.log.info({ groups: this.groups.length, rules: this.groups.reduce((n, g) => n + g.rules.length, 0) }, 'alert rules loaded')
      } catch (err) {
        // Refused on arrival by every node; one from an older release's rule keeps the rules in force.
        this.rulesProblem = (err as Error).message
        this.log.warn({ err }, 'the stored rule file is not valid here; keeping the rules in force')
      }
    }
    const inhibit = entries.find(([k]) => k === INHIBIT_RULES_KEY)?.[1].value
    const itext = inhibit === undefined ? '' : String((inhibit as { text?: unknown }).text ?? '')
    if (itext !== this.inhibitText) {
      this.inhibitText = itext
      try { this.inhibit = inhibit === undefined ? [] : parseTextRecord('inhibit rules', inhibit, parseInhibitFile).parsed } catch (err) {
        this.log.warn({ err }, 'the stored inhibit rules are not valid here; keeping the rules in force')
      }
    }
  }

  private scrape (t: TermState, now: number): void {
    const region = this.init.region
    const reports = this.init.health.reports()
    for (const { report: r, stale } of reports) {
      if (stale === true || r.region !== region || r.issuedAt <= (t.lastIssued.get(r.peerId) ?? -1)) continue
      t.lastIssued.set(r.peerId, r.issuedAt)
      const values = nodeValues(r, now)
      for (const s of ANOMALY_SERIES) if (values[s] !== undefined) t.detectors.observe(r.peerId, s, r.issuedAt, values[s])
    }
    const samples: ScrapedSample[] = regionSeries({ region, members: this.init.membership.members(), reports, anomalies: t.detectors.scores(), now })
    // Prometheus's ALERTS series: rules can refer to other rules' alerts.
    for (const { state } of t.states.byRule.values()) {
      for (const a of state.alerts) if (a.state !== 'resolved') samples.push({ labels: { __name__: 'ALERTS', ...a.labels, alertstate: a.state }, v: 1 })
    }
    t.store.appendScrape(now, samples)
  }

  /**
   * A rule moved to another group (or its group renamed) keeps its alerts:
   * alert names are unique in a file, and the alerts are the same ones (same
   * labels, so the same fingerprints and record keys). Resolving them under
   * the old key while the new key fires them again would notify twice and
   * rewrite the shared records every round.
   */
  private followMovedRules (t: TermState): void {
    const liveByAlert = new Map<string, { key: string, group: string }>()
    for (const g of this.groups) for (const r of g.rules) liveByAlert.set(r.rule.alert, { key: r.key, group: g.name })
    const moves: Array<[string, { key: string, group: string }]> = []
    for (const [key, s] of t.states.byRule) {
      const to = liveByAlert.get(s.rule)
      if (to !== undefined && to.key !== key && !t.states.byRule.has(to.key)) moves.push([key, to])
    }
    for (const [from, to] of moves) {
      const s = t.states.byRule.get(from)
      if (s === undefined || t.states.byRule.has(to.key)) continue
      t.states.byRule.delete(from)
      t.states.byRule.set(to.key, { ...s, group: to.group })
      t.errors.delete(from)
    }
  }

  private evaluateDue (t: TermState, now: number): void {
    this.followMovedRules(t)
    const tick = this.init.tunables.evalIntervalMs
    const live = new Set<string>()
    // Alerts of all rules, kept current as each rule steps: what is left of MAX_ALERTS_TOTAL for a rule is this minus its own.
    let total = 0
    for (const s of t.states.byRule.values()) total += s.state.alerts.length
    for (const g of this.groups) {
      for (const r of g.rules) live.add(r.key)
      const interval = Math.max(g.intervalMs ?? tick, tick)
      // Half a tick of slack: rounds run every tick, give or take the round's own duration.
      if (now - (t.lastEval.get(g.name) ?? -Infinity) < interval - tick / 2) continue
      t.lastEval.set(g.name, now)
      const started = performance.now()
      for (const r of g.rules) {
        const before = t.states.byRule.get(r.key)?.state ?? EMPTY_RULE_STATE
        const maxAlerts = Math.max(0, Math.min(g.limit > 0 ? g.limit : Infinity, MAX_ALERTS_TOTAL - (total - before.alerts.length)))
        const result = evalRule(r, now, t.store)
        // History is the holder's memory: while it is shorter than the rule's range, an alert carried over from
        // the previous holder may be missing from the result only because the window is not filled yet. Keep
        // such alerts (no resolve, no re-fire under a new startsAt) until it is; new alerts may start meanwhile.
        const outcome = result.ok && r.rangeMs > 0 && now - t.readyAt < r.rangeMs
          ? keepCarriedOver(before, stepLifecycle(before, r.rule, result, now, { maxAlerts }))
          : stepLifecycle(before, r.rule, result, now, { maxAlerts })
        total += outcome.state.alerts.length - before.alerts.length
        t.states.byRule.set(r.key, { group: g.name, rule: r.rule.alert, state: outcome.state })
        if (outcome.error !== undefined) {
          if (t.errors.get(r.key) !== outcome.error) this.log.warn({ rule: r.key, error: outcome.error }, 'alert rule evaluation failed; its alerts stay as they were')
          t.errors.set(r.key, outcome.error)
          this.init.metrics.evaluationFailed(this.init.region, g.name)
        } else {
          t.errors.delete(r.key)
        }
      }
      this.init.metrics.groupEvaluated(this.init.region, g.name, (performance.now() - started) / 1000)
    }
    // A rule gone from the file: its firing alerts resolve (and their resolve is sent), as if its expression went empty.
    // Not while the stored file cannot be read here: the rules in force are then an older file's, or none (a
    // node that never read one), and their absence says nothing about the operator's rules.
    if (this.rulesProblem !== undefined) return
    for (const [key, s] of t.states.byRule) {
      if (live.has(key)) continue
      const gone = { alert: s.rule, expr: '', forMs: 0, keepFiringForMs: 0, labels: {}, annotations: {} }
      const state = stepLifecycle(s.state, gone, { ok: true, samples: [] }, now).state
      if (state.alerts.length === 0) t.states.byRule.delete(key)
      else t.states.byRule.set(key, { ...s, state })
      t.errors.delete(key)
    }
  }

  /** One round; the writes config refused (each reported as a duty error; the round went on without them). */
  private async round (t: TermState, signal: AbortSignal): Promise<AlertRecordWriteError[]> {
    const failed: AlertRecordWriteError[] = []
    const config = this.init.config()
    if (config === undefined || !t.ready) return failed
    const now = Date.now()
    const entries = config.entries(MONITORING_NAMESPACE)
    this.readSettings(entries)
    this.scrape(t, now)
    this.evaluateDue(t, now)
    const plan = planAlertWrites(entries, this.init.region, t.term, t.states)
    if (plan.superseded) {
      this.log.info({ term: t.term }, 'a newer holder writes this region\'s alerts; not writing or delivering')
      return failed
    }
    // A write config refuses (the namespace's ACL, the value size limit) must
    // not hold back the other records or delivery: it is reported, and tried
    // again next round (the stored record still differs).
    const write = async (key: string, value: unknown, deleted: boolean): Promise<void> => {
      try {
        if (deleted) await config.write(MONITORING_NAMESPACE, key, null, { deleted: true })
        else await config.write(MONITORING_NAMESPACE, key, value)
      } catch (err) {
        failed.push(new AlertRecordWriteError(`${deleted ? 'delete' : 'write'} of ${key} failed: ${(err as Error).message}`, { cause: err }))
      }
    }
    for (const [key, value] of plan.writes) {
      if (signal.aborted) return failed
      await write(key, value, false)
    }
    for (const key of plan.deletes) {
      if (signal.aborted) return failed
      await write(key, null, true)
    }
    const silences = [...validEntries(entries, SILENCES_PREFIX, (_k, v) => v as Silence).values()]
    for (const id of silencesToDrop(silences, now)) await write(`${SILENCES_PREFIX}${id}`, null, true)
    const members = new Map(this.init.membership.members().map(m => [m.peerId, m.state]))
    const all: Alert[] = [...t.states.byRule.values()].flatMap(s => [...s.state.alerts])
    const muted = suppression({ alerts: all, silences, inhibitRules: this.inhibit, isDead: p => members.get(p) === 'dead', now })
    if (signal.aborted) return failed
    const intervals = new Map(this.groups.flatMap(g => g.rules.map(r => [r.key, g.intervalMs ?? this.init.tunables.evalIntervalMs] as const)))
    await t.sender.send(t.states, (key) => intervals.get(key) ?? this.init.tunables.evalIntervalMs, muted, entries, now)
    t.lastRoundAt = now
    this.init.metrics.alerts(this.init.region, all)
    return failed
  }

  /** Anomaly scores of the region's node series (the holder's detectors), for `mycel alerts --anomalies`. */
  anomalies (): Array<{ peer: string, series: string, score: number, anomalous: boolean, kind?: string }> {
    return (this.current?.detectors.scores() ?? []).map(s => ({ peer: s.peer, series: s.series, score: s.score, anomalous: s.anomalous, ...(s.kind !== undefined ? { kind: s.kind } : {}) }))
  }

  status (): AlertingStatus | undefined {
    const t = this.current
    if (t === undefined) return undefined
    const all = [...t.states.byRule.values()].flatMap(s => [...s.state.alerts])
    return {
      ready: t.ready,
      term: t.term,
      rules: this.groups.reduce((n, g) => n + g.rules.length, 0),
      pending: all.filter(a => a.state === 'pending').length,
      firing: all.filter(a => a.state === 'firing').length,
      resolved: all.filter(a => a.state === 'resolved').length,
      ...(t.lastRoundAt !== undefined ? { lastRoundAt: t.lastRoundAt } : {}),
      ruleErrors: [...t.errors].map(([rule, error]) => ({ rule, error })),
      ...(this.rulesProblem !== undefined ? { rulesProblem: this.rulesProblem } : {})
    }
  }
}


