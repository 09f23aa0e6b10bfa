/**
 * Named refusals of the operator side of rollouts (start, controls, status).
 * Each carries the status every front end reports (lib/errors.ts) and a
 * one-line message an operator can act on; nothing is written when one is
 * thrown. A malformed request or record is `InvalidRolloutError` (422,
 * record.ts); a release that is unknown, untrusted or conflicted is the
 * artifact service's own error (protocols/artifacts/errors.ts), passed on
 * unchanged so every user of a release hears the same verdict.
 */
import { StatusError } from '../../lib/errors.js'
import type { CompatProblem } from './compat.js'

/** No deployment of the component: there is nothing to roll (deploy it first). */
export class NoDeploymentError extends StatusError {
  static name = 'NoDeploymentError'
  override name = 'NoDeploymentError'
  readonly status = 404
}

/** The rollout's version is the deployment's already. */
export class SameVersionError extends StatusError {
  static name = 'SameVersionError'
  override name = 'SameVersionError'
  readonly status = 409
}

/** Another rollout of the component is still open (running, paused or failed): a second one is refused, not queued. */
export class RolloutOpenError extends StatusError {
  static name = 'RolloutOpenError'
  override name = 'RolloutOpenError'
  readonly status = 409
  constructor (message: string, readonly openId: string) {
    super(message)
  }
}

/** The regions asked for do not match the regions the deployment runs in (or it runs in none). */
export class RolloutRegionsError extends StatusError {
  static name = 'RolloutRegionsError'
  override name = 'RolloutRegionsError'
  readonly status = 409
}

/** The new manifest's `requires` is not met on some target nodes; `problems` lists every node and reason. */
export class IncompatibleRolloutError extends StatusError {
  static name = 'IncompatibleRolloutError'
  override name = 'IncompatibleRolloutError'
  readonly status = 409
  constructor (message: string, readonly problems: CompatProblem[]) {
    super(message)
  }
}

/** The release's archive is neither in this node's blocks nor offered by any provider found in time. */
export class ArchiveUnreachableError extends StatusError {
  static name = 'ArchiveUnreachableError'
  override name = 'ArchiveUnreachableError'
  readonly status = 503
}

/** No rollout with this id. */
export class RolloutNotFoundError extends StatusError {
  static name = 'RolloutNotFoundError'
  override name = 'RolloutNotFoundError'
  readonly status = 404
}

/** A control verb that does not apply to the rollout's current state (the message names the state). */
export class ControlRefusedError extends StatusError {
  static name = 'ControlRefusedError'
  override name = 'ControlRefusedError'
  readonly status = 409
}
