/**
 * The component host's state of one component (host/component-host.ts):
 * the running instance, the install in progress for the wanted version,
 * and the bookkeeping of its step loop; and how it is reported.
 */
import type { ComponentReport } from '../protocols/health/report.js'
import type { ReleaseRef } from './installed.js'
import type { Instance } from './instance.js'

/**
 * Components in one report, and the longest reason in it: 48 entries with
 * reasons of 120 characters stay well inside the 16 KiB a health report may
 * have; a larger report would be dropped by every receiver.
 */
export const MAX_REPORTED = 48
export const MAX_REASON_CHARS = 120

/** One component this node should run; `keepOnly`: keep it if this version runs here, start nothing. */
export interface DesiredRelease { name: string, version: string, keepOnly?: true }

export type Phase = 'idle' | 'fetching' | 'installing' | 'failed'

/** Per component: the running instance, the install in progress for the wanted version, and the step loop. */
export interface Slot {
  name: string
  want?: DesiredRelease
  /** `want` comes from a known desired set (undefined means "not wanted", not "unknown"). */
  wantKnown: boolean
  instance?: Instance
  running?: ReleaseRef
  previous?: ReleaseRef
  phase: Phase
  phaseVersion?: string
  /** The archive being fetched or unpacked, kept from garbage collection. */
  pendingArchive?: string
  phaseSince: number
  reason?: string
  failures: number
  retryAt: number
  cancelRetry: () => void
  busy: boolean
  again: boolean
  /** Its `current` record is damaged: fail-stop, nothing more is done for it. */
  corrupt?: boolean
  /** Aborts the fetch in progress (undeploy, stop). */
  abort: AbortController
  /** Its report, when not the generic one (the core: host/core-update.ts). */
  report?: () => ComponentReport | undefined
}

export function newSlot (name: string, now: number): Slot {
  return { name, wantKnown: false, phase: 'idle', phaseSince: now, failures: 0, retryAt: 0, cancelRetry: () => {}, busy: false, again: false, abort: new AbortController() }
}

/** One entry per slot that has something to show, sorted by name, capped (MAX_REPORTED, MAX_REASON_CHARS). */
export function slotReports (slots: Iterable<Slot>): ComponentReport[] {
  const out: ComponentReport[] = []
  for (const s of [...slots].sort((a, b) => a.name < b.name ? -1 : 1)) {
    const r = slotReport(s)
    if (r !== undefined) out.push(r)
  }
  return out.slice(0, MAX_REPORTED).map(r => r.reason !== undefined && r.reason.length > MAX_REASON_CHARS ? { ...r, reason: `${r.reason.slice(0, MAX_REASON_CHARS - 1)}…` } : r)
}

/**
 * An install in progress (or failed) for a version other than the one that
 * runs is what the operator wants to see; otherwise the running instance.
 */
function slotReport (s: Slot): ComponentReport | undefined {
  if (s.report !== undefined) return s.report()
  const installingOther = s.phase !== 'idle' && s.phaseVersion !== undefined && s.phaseVersion !== s.running?.version
  if (installingOther || (s.instance === undefined && s.phase !== 'idle')) {
    const inst = s.instance?.report()
    return {
      name: s.name,
      version: s.phaseVersion ?? s.want?.version ?? '0.0.0',
      state: s.phase === 'idle' ? 'starting' : s.phase,
      ...(inst?.pid !== undefined ? { pid: inst.pid } : {}),
      restarts: inst?.restarts ?? 0,
      health: 'unknown',
      since: Math.floor(s.phaseSince),
      ...(s.reason !== undefined ? { reason: s.reason } : {})
    }
  }
  return s.instance?.report()
}
