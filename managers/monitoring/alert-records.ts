/**
 * The region's alert state in replicated config (records.ts
 * `alerts/<region>/<fingerprint>`): read by a new holder before its first
 * evaluation, so it continues where the previous holder stopped (a firing
 * alert keeps its startsAt, a pending one its activeAt, a resolve still
 * owed is sent), and written by the holder on every transition.
 *
 * What is compared is the lifecycle (state and its times) and the labels;
 * `value` and annotations are written with a transition but a change of
 * theirs alone writes nothing (an annotation that shows `$value` would
 * otherwise write every alert every evaluation). `lastSentAt`/`validUntil`
 * are not stored: a new holder sends every firing alert to the
 * Alertmanagers at once, which Alertmanager dedupes (same labels, same
 * startsAt), as it does after a Prometheus restart.
 *
 * Fencing: a record written under a higher term than the holder's means a
 * newer holder exists; the round then writes nothing (`superseded`). A
 * lower term's record that differs is rewritten, so a deposed holder's late
 * write is corrected by the next round.
 */
import { fromRecord, toRecord, type Alert, type RuleAlertState } from './alert-lifecycle.js'
import { fingerprint } from './matchers.js'
import { ALERTS_PREFIX, alertKey, validEntries, type StoredAlert } from './records.js'
import { ruleKey } from './rule-evaluation.js'

type Entries = Iterable<readonly [string, { value: unknown, writer?: string }]>

export interface RuleStates {
  /** By rule key (`<group>/<alert>`). */
  byRule: Map<string, { group: string, rule: string, state: RuleAlertState }>
}

/** The stored alerts of `region`. */
export function storedAlerts (entries: Entries, region: string): Map<string, StoredAlert> {
  const prefix = `${ALERTS_PREFIX}${region}/`
  return validEntries(entries, prefix, (_k, v) => v as StoredAlert)
}

/** The alert states a new holder continues from. */
export function loadAlertStates (entries: Entries, region: string): RuleStates {
  const grouped = new Map<string, { group: string, rule: string, alerts: Array<StoredAlert['alert']> }>()
  for (const s of storedAlerts(entries, region).values()) {
    const key = ruleKey(s.group, s.rule)
    const g = grouped.get(key) ?? { group: s.group, rule: s.rule, alerts: [] }
    g.alerts.push(s.alert)
    grouped.set(key, g)
  }
  const byRule = new Map<string, { group: string, rule: string, state: RuleAlertState }>()
  for (const [key, g] of grouped) {
    try {
      byRule.set(key, { group: g.group, rule: g.rule, state: fromRecord({ v: 1, alerts: g.alerts }) })
    } catch { /* more alerts than one rule may have: no holder wrote that; start the rule afresh */ }
  }
  return { byRule }
}

/** One alert as stored: without the send bookkeeping. */
function stored (a: Alert): StoredAlert['alert'] {
  const { sent: _s, until: _u, ...rest } = toRecord({ alerts: [{ ...a, lastSentAt: undefined, validUntil: undefined }] }).alerts[0]
  return rest
}

function lifecycleSignature (a: StoredAlert['alert']): string {
  const labels = Object.keys(a.l).sort().map(k => `${k}=${a.l[k]}`).join(',')
  return `${a.s}|${a.at}|${a.fired ?? ''}|${a.resolved ?? ''}|${a.keep ?? ''}|${labels}`
}

export interface AlertWritePlan {
  /** Keys to write, with their values. */
  writes: Array<[string, StoredAlert]>
  /** Keys to delete (alerts the state no longer has). */
  deletes: string[]
  /** A newer holder wrote here: write nothing. */
  superseded: boolean
}

/** What to write so that config holds `states` as seen by the holder of `term`. */
export function planAlertWrites (entries: Entries, region: string, term: number, states: RuleStates): AlertWritePlan {
  const current = storedAlerts(entries, region)
  for (const s of current.values()) if (s.term > term) return { writes: [], deletes: [], superseded: true }
  const writes: Array<[string, StoredAlert]> = []
  const wanted = new Set<string>()
  for (const { group, rule, state } of states.byRule.values()) {
    for (const a of state.alerts) {
      const key = alertKey(region, fingerprint(a.labels))
      wanted.add(key)
      const next: StoredAlert = { v: 1, term, group, rule, alert: stored(a) }
      const have = current.get(key)
      if (have === undefined || have.term !== term || have.group !== group || have.rule !== rule || lifecycleSignature(have.alert) !== lifecycleSignature(next.alert)) writes.push([key, next])
    }
  }
  const deletes = [...current.keys()].filter(k => !wanted.has(k)).sort()
  return { writes, deletes, superseded: false }
}
