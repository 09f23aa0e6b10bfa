/**
 * The security manager's judgement of offences, a pure function over the
 * region's health reports (issue 15 item 6): every node reports its worst
 * offenders (lib/peer-offences.ts, protocols/health `offences`); per peer the
 * manager sums each kind over the reporters, and a peer whose sum reaches the
 * kind's threshold, reported by at least `minReporters` nodes, is a finding.
 *
 * Thresholds are per kind and per profile (below), and the committed
 * critical key `security` may override any of them for the whole network
 * (policy/security-policy.ts). Sums count each reporter once per peer: a
 * reporter's counts already cover its whole window, and a report replaces the
 * reporter's previous one (protocols/health keeps the latest per member).
 *
 * A reporter's counts are its own claim: one node could invent offences. The
 * finding names its reporters so an operator can judge, `minReporters`
 * raises the bar, and a finding only ever leads to a *proposal*.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../lib/tunables.js'
import { OFFENCE_KINDS, type OffenceKind } from '../lib/peer-offences.js'
import type { OffencesReport } from '../protocols/health/report.js'

export type OffenceThresholds = Record<OffenceKind, number>

/**
 * Region-wide counts over the reporters' windows (one to two of
 * lib/peer-offences.ts `windowMs`) that make a finding, per profile.
 */
export const offenceThresholds = defineTunables<OffenceThresholds>({
  module: 'security.thresholds',
  schema: z.strictObject(Object.fromEntries(OFFENCE_KINDS.map(k => [k, tunable.positive()])) as Record<OffenceKind, ReturnType<typeof tunable.positive>>),
  profiles: {
    lan: {
      // A handshake fails honestly on a restart or a timeout; twenty across the region is a prober or a host of another network.
      failed_handshake: 20,
      // Gossipsub checked the author's signature: a bad inner signature is never an accident.
      bad_signature: 3,
      // Rejections also follow version skew during an upgrade: allow some.
      rejected_envelope: 20,
      // One equivocation is proof of a faulty or malicious signer.
      equivocation: 1,
      // A used-up join token presented again.
      replay: 3,
      // One refusal per node per reason: ten nodes refused the peer.
      admission_refusal: 10
    },
    // Lossy links fail more handshakes and reorder more messages.
    wan: { failed_handshake: 50, bad_signature: 3, rejected_envelope: 40, equivocation: 1, replay: 3, admission_refusal: 20 },
    // Tests make one finding with a few offences.
    test: { failed_handshake: 3, bad_signature: 1, rejected_envelope: 3, equivocation: 1, replay: 1, admission_refusal: 2 }
  }
})

/** Most reporters a finding names; the count is kept in full. */
export const MAX_FINDING_REPORTERS = 8
/** Most findings one region record holds (the worst first): keeps the record well under the 64 KiB value limit. */
export const MAX_FINDINGS = 32

/** One node's latest report of offenders. */
export interface ReporterOffences {
  reporter: string
  offences: OffencesReport
}

export interface OffenceFinding {
  peer: string
  /** Per kind, the sum over reporters (only the kinds this release knows). */
  kinds: Partial<Record<OffenceKind, number>>
  /** Kinds whose sum reached their threshold. */
  over: OffenceKind[]
  /** Reporters that saw the peer offend (at most MAX_FINDING_REPORTERS, sorted). */
  reporters: string[]
  reporterCount: number
  /** Earliest first offence any reporter still counts, Unix ms. */
  firstSeen: number
  /** Latest offence any reporter saw, Unix ms. */
  lastSeen: number
}

export interface AggregateOptions {
  thresholds: Readonly<OffenceThresholds>
  /** Distinct reporters a peer needs before it can be a finding. */
  minReporters: number
  maxFindings?: number
}

interface Sum { kinds: Partial<Record<OffenceKind, number>>, reporters: Set<string>, firstSeen: number, lastSeen: number }

const KNOWN = new Set<string>(OFFENCE_KINDS)

/**
 * The findings among `reports`: deterministic (independent of the reports'
 * order), worst first (most kinds over, then the largest total, then by id),
 * at most `maxFindings`. A report about the reporter itself is ignored.
 */
export function aggregateOffences (reports: Iterable<ReporterOffences>, opts: AggregateOptions): OffenceFinding[] {
  const sums = new Map<string, Sum>()
  const seen = new Set<string>()
  for (const { reporter, offences } of reports) {
    if (seen.has(reporter)) continue
    seen.add(reporter)
    for (const p of offences.peers) {
      if (p.peer === reporter) continue
      let s = sums.get(p.peer)
      if (s === undefined) {
        s = { kinds: {}, reporters: new Set(), firstSeen: Infinity, lastSeen: -Infinity }
        sums.set(p.peer, s)
      }
      let counted = false
      for (const [k, n] of Object.entries(p.kinds)) {
        if (!KNOWN.has(k) || n <= 0) continue
        const kind = k as OffenceKind
        s.kinds[kind] = Math.min(Number.MAX_SAFE_INTEGER, (s.kinds[kind] ?? 0) + n)
        counted = true
      }
      if (!counted) continue
      s.reporters.add(reporter)
      s.firstSeen = Math.min(s.firstSeen, p.firstSeen)
      s.lastSeen = Math.max(s.lastSeen, p.lastSeen)
    }
  }
  const findings: OffenceFinding[] = []
  for (const [peer, s] of sums) {
    if (s.reporters.size < opts.minReporters) continue
    const over = OFFENCE_KINDS.filter(k => (s.kinds[k] ?? 0) >= opts.thresholds[k])
    if (over.length === 0) continue
    const kinds: Partial<Record<OffenceKind, number>> = {}
    for (const k of OFFENCE_KINDS) if (s.kinds[k] !== undefined) kinds[k] = s.kinds[k]
    findings.push({ peer, kinds, over, reporters: [...s.reporters].sort().slice(0, MAX_FINDING_REPORTERS), reporterCount: s.reporters.size, firstSeen: s.firstSeen, lastSeen: s.lastSeen })
  }
  const total = (f: OffenceFinding): number => Object.values(f.kinds).reduce((a, b) => a + b, 0)
  findings.sort((a, b) => b.over.length - a.over.length || total(b) - total(a) || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  return findings.slice(0, opts.maxFindings ?? MAX_FINDINGS)
}

/** The profile's thresholds with the committed setting's overrides. */
export function effectiveThresholds (profile: Readonly<OffenceThresholds>, overrides: Partial<Record<OffenceKind, number>>): OffenceThresholds {
  return { ...profile, ...overrides }
}
