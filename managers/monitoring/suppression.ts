/**
 * Which alerts are muted, and by what: active silences (silences.ts) and
 * inhibition (inhibition.ts: the configured rules and the built-in topology
 * rule). Computed the same way by the holder before it delivers and by
 * every node's `GET /v1/alerts`, from the same replicated records, so what
 * `mycel alerts` shows as suppressed is what was not delivered.
 *
 * Only firing alerts are muted: a pending one is not delivered anyway, and
 * a resolve is always delivered (a receiver that heard the alert fire
 * should hear it end, even if a silence was added meanwhile — Alertmanager
 * does the same for resolved alerts it notified).
 */
import { inhibitor } from './inhibition.js'
import { fingerprint } from './matchers.js'
import { silencedBy, type Silence } from './silences.js'
import type { InhibitRule, Labels } from './types.js'

export interface Muting {
  silencedBy: string[]
  inhibitedBy: string[]
}

export interface SuppressionInput {
  /** Every alert of the region with its state. */
  alerts: ReadonlyArray<{ labels: Labels, state: 'pending' | 'firing' | 'resolved' }>
  silences: Iterable<Silence>
  inhibitRules: readonly InhibitRule[]
  /** Membership: is this peer dead (the built-in topology rule)? */
  isDead: (peer: string) => boolean
  now: number
}

/** Muting per alert fingerprint; alerts not in the map are not muted. */
export function suppression (i: SuppressionInput): Map<string, Muting> {
  const silences = [...i.silences]
  const firing = i.alerts.filter(a => a.state === 'firing').map(a => a.labels)
  // Indexed once per call: checking every firing alert stays linear in their number.
  const inhibitedBy = inhibitor(i.inhibitRules, firing, { isDead: i.isDead })
  const out = new Map<string, Muting>()
  for (const a of i.alerts) {
    if (a.state !== 'firing') continue
    const s = silencedBy(silences, a.labels, i.now)
    const by = inhibitedBy(a.labels)
    if (s.length > 0 || by !== undefined) out.set(fingerprint(a.labels), { silencedBy: s, inhibitedBy: by !== undefined ? [by] : [] })
  }
  return out
}
