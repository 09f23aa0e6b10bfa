/**
 * The operator's controls of a rollout (issue 14, point 4), as a pure step:
 * the rollout's derived state (state.ts) and a verb give the record's new
 * `control`, or a ControlRefusedError (409) naming the current state. The
 * record is the operator's alone (record.ts), so a control is a write of
 * the whole record with the new `control`; the regions' update managers
 * read it and act (driver), every node derives the same state from it.
 *
 * | verb     | applies to              | control becomes                         |
 * |----------|-------------------------|-----------------------------------------|
 * | pause    | running                 | paused: assign nothing more, judge no gate |
 * | resume   | paused                  | running, `resumedAt` now (a pause does not eat into a gate's deadlines) |
 * | abort    | running, paused, failed | aborted: stop where it is, for good     |
 * | rollback | running, paused, failed | rollback: touched nodes return to the last stable version now |
 * | promote  | running, with canaries, not promoted yet | `promoted`: canary waves pass once healthy, without waiting out min healthy time |
 *
 * A failed rollout (a gate failed, auto-revert off) is not resumed: its
 * failed region stays failed, so `running` would not move it; the way on is
 * rollback or abort, and a new rollout once it is closed.
 */
import { ControlRefusedError } from './errors.js'
import { parseRollout, type Control, type Rollout, type RolloutState } from './record.js'

export const CONTROL_VERBS = ['pause', 'resume', 'abort', 'rollback', 'promote'] as const
export type ControlVerb = typeof CONTROL_VERBS[number]

export function isControlVerb (s: string): s is ControlVerb {
  return (CONTROL_VERBS as readonly string[]).includes(s)
}

/** The record with the control `verb` asks for, validated with the record's schema; throws ControlRefusedError when it does not apply. */
export function applyControl (r: Rollout, state: RolloutState, verb: ControlVerb, now: number): Rollout {
  return parseRollout({ ...r, control: nextControl(r, state, verb, now) })
}

function nextControl (r: Rollout, state: RolloutState, verb: ControlVerb, now: number): Control {
  const c = r.control
  const refuse = (applies: string): never => {
    throw new ControlRefusedError(`rollout ${r.id} is ${state}: ${verb} applies to ${applies}`)
  }
  switch (verb) {
    case 'pause':
      if (state !== 'running') refuse('a running rollout')
      return { ...c, state: 'paused', at: now }
    case 'resume':
      if (state === 'failed') throw new ControlRefusedError(`rollout ${r.id} is failed: it cannot be resumed; roll it back (mycel rollout rollback ${r.id}) or abort it (mycel rollout abort ${r.id})`)
      if (state !== 'paused') refuse('a paused rollout')
      return { ...c, state: 'running', at: now, resumedAt: now }
    case 'abort':
      if (state !== 'running' && state !== 'paused' && state !== 'failed') refuse('a running, paused or failed rollout')
      return { ...c, state: 'aborted', at: now }
    case 'rollback':
      if (state !== 'running' && state !== 'paused' && state !== 'failed') refuse('a running, paused or failed rollout')
      return { ...c, state: 'rollback', at: now }
    case 'promote':
      if (state !== 'running') refuse('a running rollout with canaries')
      if (r.canary === 0) throw new ControlRefusedError(`rollout ${r.id} has no canary wave: nothing to promote`)
      if (c.promoted) throw new ControlRefusedError(`rollout ${r.id} is promoted already`)
      return { ...c, at: now, promoted: true }
  }
}
