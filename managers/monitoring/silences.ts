/**
 * Silences, with Alertmanager's semantics (silence/silence.go): a silence
 * mutes every alert all its matchers match while it is active, that is
 * from `startsAt` (inclusive) to `endsAt` (exclusive). Expiring one sets
 * `endsAt` to now (a silence that has not started yet gets `startsAt` =
 * `endsAt` = now), so the record stays for the list and the history, as
 * Alertmanager keeps expired silences until its retention drops them.
 *
 * Rules a silence must meet (Alertmanager's `validateSilence` plus its API
 * schema): at least one matcher, not all matchers match the empty string (a
 * silence must not mute everything), `endsAt` after `startsAt`, a creator
 * and a comment. Bounded for the replicated record.
 */
import { z } from 'zod'
import { StatusError } from '../../lib/errors.js'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { matcherMatches, matcherSchema, matches } from './matchers.js'
import type { Labels, Matcher } from './types.js'

/** Matchers per silence: beyond any real silence. */
export const MAX_SILENCE_MATCHERS = 32
/** Longest comment, characters. */
export const MAX_SILENCE_COMMENT = 1024
/** Silences kept (active, pending and expired) before the oldest expired go: every alert is checked against each active one. */
export const MAX_SILENCES = 1000

const unixMs = z.number().int().min(0).max(8.64e15)

export const silenceSchema = z.object({
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -'),
  matchers: z.array(matcherSchema).min(1, 'at least one matcher').max(MAX_SILENCE_MATCHERS),
  startsAt: unixMs,
  endsAt: unixMs,
  createdBy: z.string().min(1).max(256),
  comment: z.string().min(1).max(MAX_SILENCE_COMMENT)
}).strict().superRefine((s, ctx) => {
  if (s.endsAt < s.startsAt) ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'end time must not be before start time' })
  if (s.matchers.every(m => matchesEmpty(m))) ctx.addIssue({ code: 'custom', path: ['matchers'], message: 'at least one matcher must not match the empty string' })
})
export type Silence = z.infer<typeof silenceSchema>

/** Zod runs this refinement even when a matcher's own check failed: a regex that does not compile is reported there, not thrown here. */
function matchesEmpty (m: Matcher): boolean {
  try {
    return matcherMatches(m, '')
  } catch {
    return false
  }
}

/** A silence that breaks the rules above; the message is the first problem, on one line. */
export class InvalidSilenceError extends StatusError {
  static name = 'InvalidSilenceError'
  override name = 'InvalidSilenceError'
  readonly status = 422
}

/** Expiring a silence that has already ended. */
export class SilenceExpiredError extends StatusError {
  static name = 'SilenceExpiredError'
  override name = 'SilenceExpiredError'
  readonly status = 409
  constructor (readonly id: string) {
    super(`silence ${id} already expired`)
  }
}

/** A silence from untrusted input (API body, replicated record), or InvalidSilenceError. */
export function parseSilence (input: unknown): Silence {
  return parseOrRefuse(silenceSchema, input, 'silence', m => new InvalidSilenceError(m))
}

export type SilenceStatus = 'pending' | 'active' | 'expired'

/** Alertmanager's silence states: pending before `startsAt`, expired from `endsAt`. */
export function silenceStatus (s: Silence, now: number): SilenceStatus {
  if (now < s.startsAt) return 'pending'
  return now < s.endsAt ? 'active' : 'expired'
}

export function isActive (s: Silence, now: number): boolean {
  return silenceStatus(s, now) === 'active'
}

/** Ids of the active silences that mute `labels` at `now`, sorted (empty: not silenced). */
export function silencedBy (silences: Iterable<Silence>, labels: Labels, now: number): string[] {
  const ids: string[] = []
  for (const s of silences) if (isActive(s, now) && matches(s.matchers, labels)) ids.push(s.id)
  return ids.sort()
}

/** The silence ended at `now` (Alertmanager `Silences.Expire`); throws SilenceExpiredError if it already has. */
export function expire (s: Silence, now: number): Silence {
  switch (silenceStatus(s, now)) {
    case 'expired': throw new SilenceExpiredError(s.id)
    case 'pending': return { ...s, startsAt: now, endsAt: now }
    case 'active': return { ...s, endsAt: now }
  }
}

/**
 * Ids to delete so that at most `max` silences stay: expired ones only,
 * those that ended first. Active and pending silences are never dropped
 * (the API refuses a new one instead, when all `max` are in force).
 */
export function silencesToDrop (silences: Iterable<Silence>, now: number, max = MAX_SILENCES): string[] {
  const all = [...silences]
  const over = all.length - max
  if (over <= 0) return []
  return all.filter(s => silenceStatus(s, now) === 'expired')
    .sort((a, b) => a.endsAt - b.endsAt || (a.id < b.id ? -1 : 1))
    .slice(0, over).map(s => s.id)
}
