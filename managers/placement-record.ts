/**
 * The placement record a region's network manager keeps in replicated
 * config, one per deployment: the assignment it decided and the fencing
 * term of the holder that wrote it (the election's term, manager.ts). A
 * new holder reads the last record and continues from its assignment, so
 * an election moves no instance by itself; the next record is made only
 * through `place`, so the rules of placement.ts hold for every record.
 *
 * Like deployment.ts, receivers parse the record with this schema and
 * drop fields they do not know (docs/wire.md rule 1).
 */
import { z } from 'zod'
import { StatusError } from '../lib/errors.js'
import { componentNameSchema, type Deployment } from './deployment.js'
import { place, type NodeFacts, type Placement } from './placement.js'
import { parseOrRefuse } from '../lib/zod-issue.js'

/**
 * Assignments one record may hold: one per node, and a region holds at most
 * membership's `maxMembers` (4,096) nodes; the bound refuses a forged or
 * corrupt record before anything iterates over it.
 */
export const MAX_ASSIGNMENTS = 4_096

export const placementRecordSchema = z.object({
  deployment: componentNameSchema,
  /** Fencing term of the network manager that wrote it. */
  term: z.number().int().nonnegative(),
  assignments: z.array(z.object({
    node: z.string().min(1).max(128),
    /** Unix ms since which the instance is assigned there. */
    since: z.number().int().nonnegative()
  })).max(MAX_ASSIGNMENTS)
})

export type PlacementRecord = z.output<typeof placementRecordSchema>

/** A placement record read from replicated config that does not parse (forged, corrupt, or written by a buggy release). */
export class InvalidPlacementRecordError extends StatusError {
  static name = 'InvalidPlacementRecordError'
  override name = 'InvalidPlacementRecordError'
  readonly status = 422
}

/** Parse a record read from replicated config; throws `InvalidPlacementRecordError`. */
export function parsePlacementRecord (input: unknown): PlacementRecord {
  return parseOrRefuse(placementRecordSchema, input, 'placement record', (m) => new InvalidPlacementRecordError(m))
}

/** A holder whose term is older than the record's: it lost the role and must not write. */
export class StalePlacementTermError extends StatusError {
  static name = 'StalePlacementTermError'
  override name = 'StalePlacementTermError'
  readonly status = 409
}

/** The previous record is about another deployment (the caller read the wrong key). */
export class PlacementRecordMismatchError extends StatusError {
  static name = 'PlacementRecordMismatchError'
  override name = 'PlacementRecordMismatchError'
  readonly status = 409
}

export interface NextPlacement {
  record: PlacementRecord
  placement: Placement
  /** Whether the record differs from `prev` (a new term or another assignment): write it only then. */
  changed: boolean
}

/**
 * The record the holder of `term` writes next: `place` run on the previous
 * record's assignment (for a first record: the nodes that report running
 * this version). Throws
 * `StalePlacementTermError` when `prev` was written in a later term.
 */
export function nextPlacementRecord (prev: PlacementRecord | undefined, deployment: Deployment, nodes: readonly NodeFacts[], term: number, now: number): NextPlacement {
  if (prev !== undefined) {
    if (prev.deployment !== deployment.name) throw new PlacementRecordMismatchError(`placement record of ${prev.deployment} given for ${deployment.name}`)
    if (term < prev.term) throw new StalePlacementTermError(`term ${term} is older than the placement record's term ${prev.term}`)
  }
  // A first record starts from the instances the nodes report running (a
  // system deployment turned counted, a record lost): placement keeps them
  // where they are, up to `count`, instead of moving them.
  const current = prev?.assignments ?? nodes
    .filter(n => n.components.some(c => c.name === deployment.name && c.version === deployment.version && (c.state === 'running' || c.state === 'starting')))
    .map(n => ({ node: n.peerId, since: now }))
  const placement = place(deployment, nodes, current, now)
  const record: PlacementRecord = { deployment: deployment.name, term, assignments: placement.assignments }
  const changed = prev === undefined || prev.term !== term || !sameAssignments(prev.assignments, placement.assignments)
  return { record, placement, changed }
}

function sameAssignments (a: PlacementRecord['assignments'], b: PlacementRecord['assignments']): boolean {
  return a.length === b.length && a.every((x, i) => x.node === b[i].node && x.since === b[i].since)
}
