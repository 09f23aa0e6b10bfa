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
  for (const rule of rules) {
    if (!matches(rule.targetMatchers, alert)) continue
    const twoSided = matches(rule.sourceMatchers, alert)
    for (const source of firing) {
      if (!matches(rule.sourceMatchers, source)) continue
      if (!rule.equal.every(n => (source[n] ?? '') === (alert[n] ?? ''))) continue
      if (twoSided && matches(rule.targetMatchers, source)) continue
      return fingerprint(source)
    }
  }
  return topologySource(firing, alert, opts)
}

function topologySource (firing: readonly Labels[], alert: Labels, opts: InhibitOptions): string | undefined {
  const peer = alert.peer
  if (peer === undefined || peer === '' || opts.isDead === undefined) return undefined
  if (alert.alertname === MEMBER_DOWN_ALERT) return undefined
  if (!opts.isDead(peer)) return undefined
  const source = firing.find(l => l.alertname === MEMBER_DOWN_ALERT && l.peer === peer)
  return source === undefined ? undefined : fingerprint(source)
}
