/**
 * Inhibition: an alert is muted while another one, its source, fires.
 *
 * Configured rules follow Alertmanager (inhibit/inhibit.go): a rule mutes
 * an alert matching all `targetMatchers` while a firing alert matches all
 * `sourceMatchers` and has the same value (a missing label is '') for every
 * label in `equal`. An alert never inhibits itself: when the muted alert
 * also matches the source side, sources that also match the target side are
 * not counted (Alertmanager's `excludeTwoSidedMatch`), so two alerts of one
 * rule cannot mute each other either. Sources are the firing alerts,
 * silenced ones included (Alertmanager too checks them before silences).
 *
 * The built-in topology rule (mycel's own, no anchor has it): an alert whose
 * labels carry `peer=P` is muted by a firing `MemberDown` alert with
 * `peer=P` while membership marks P dead (`isDead(P)`, the caller's view of
 * membership: true for a member declared dead, false for alive, suspect,
 * left or unknown). A dead node's disk, load and component alerts are then
 * one alert, not many; when the node comes back (or while it is only
 * suspected) its own alerts show again. `MemberDown` alerts are never muted
 * by this rule.
 */
import { fingerprint, matches } from './matchers.js'
import type { InhibitRule, Labels } from './types.js'

/** The alert name of the built-in topology rule's source. */
export const MEMBER_DOWN_ALERT = 'MemberDown'

export interface InhibitOptions {
  /** Membership's view: is this peer dead? Without it the built-in rule mutes nothing. */
  isDead?: (peer: string) => boolean
}

/**
 * The fingerprint of a firing alert that inhibits `alert`, or undefined when
 * none does. `firing` holds the label sets of the firing alerts (it may
 * include `alert` itself).
 */
export function inhibitedBy (rules: readonly InhibitRule[], firing: readonly Labels[], alert: Labels, opts: InhibitOptions = {}): string | undefined {
  return inhibitor(rules, firing, opts)(alert)
}

interface Source { labels: Labels, alsoTarget: boolean }

/**
 * `inhibitedBy` for many alerts against one set of firing alerts: the
 * sources are indexed once, per rule by the values of its `equal` labels
 * (Alertmanager's source cache does the same) and MemberDown by peer, so
 * checking n alerts costs n lookups rather than n scans of every firing
 * alert. Within one index entry the sources keep the order of `firing`, so
 * the answer is the one the scan would give.
 */
export function inhibitor (rules: readonly InhibitRule[], firing: readonly Labels[], opts: InhibitOptions = {}): (alert: Labels) => string | undefined {
  const indexed = rules.map(rule => {
    const byEqual = new Map<string, Source[]>()
    for (const labels of firing) {
      if (!matches(rule.sourceMatchers, labels)) continue
      const key = equalKey(rule.equal, labels)
      const list = byEqual.get(key) ?? []
      list.push({ labels, alsoTarget: matches(rule.targetMatchers, labels) })
      byEqual.set(key, list)
    }
    return { rule, byEqual }
  })
  const memberDown = new Map<string, Labels>()
  for (const l of firing) if (l.alertname === MEMBER_DOWN_ALERT && l.peer !== undefined && !memberDown.has(l.peer)) memberDown.set(l.peer, l)
  return (alert) => {
    for (const { rule, byEqual } of indexed) {
      if (byEqual.size === 0 || !matches(rule.targetMatchers, alert)) continue
      const twoSided = matches(rule.sourceMatchers, alert)
      for (const source of byEqual.get(equalKey(rule.equal, alert)) ?? []) {
        if (twoSided && source.alsoTarget) continue
        return fingerprint(source.labels)
      }
    }
    return topologySource(memberDown, alert, opts)
  }
}

/** The values of the `equal` labels (a missing label is ''), as one map key. */
function equalKey (equal: readonly string[], labels: Labels): string {
  return JSON.stringify(equal.map(n => labels[n] ?? ''))
}

function topologySource (memberDown: ReadonlyMap<string, Labels>, alert: Labels, opts: InhibitOptions): string | undefined {
  const peer = alert.peer
  if (peer === undefined || peer === '' || opts.isDead === undefined) return undefined
  if (alert.alertname === MEMBER_DOWN_ALERT) return undefined
  const source = memberDown.get(peer)
  if (source === undefined || !opts.isDead(peer)) return undefined
  return fingerprint(source)
}
