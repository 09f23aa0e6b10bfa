/**
 * Where placement records live in replicated config, and how every node
 * reads them so that a network manager that lost its role can never
 * overwrite the decision of the one that took it over.
 *
 * Replicated config is last-writer-wins by the writers' own clocks, not by
 * fencing term, so one key per (region, deployment) would let a stale
 * holder's late write win. Instead each holder writes under its own term:
 * key `<region>/<deployment>/<term>` in the built-in namespace
 * `mycel.placements`, and every reader takes, per (region, deployment), the
 * record with the highest term. A stale holder can only write under its own
 * older term, which readers ignore once a newer term's record is there. A new
 * holder writes its term's key first and only then deletes the older terms'
 * keys: one writer's envelopes apply in order on every node, so no node sees
 * the deletions without the record that replaces them. Docs:
 * docs/components.md "Fencing of placement records".
 *
 * The built-in rule (`checkPlacementEntry`, registered by the agent beside
 * `mycel.deployments`) makes the writer and every receiver refuse a value
 * that is not a placement record of the deployment and term its key names,
 * so a key's term is the record's term.
 */
import { REGION_PATTERN } from '../lib/region.js'
import { inForce, isTermText } from './term-records.js'
import { InvalidPlacementRecordError, parsePlacementRecord, type PlacementRecord } from './placement-record.js'

/** The replicated-config namespace of placement records (crdt/namespaces.ts BuiltinNamespaces). */
export const PLACEMENTS_NAMESPACE = 'mycel.placements'

const NAME_PATTERN = /^[a-z0-9-]{1,64}$/

export interface PlacementKey {
  region: string
  deployment: string
  term: number
}

/** The key of the record `term`'s holder writes for `deployment` in `region`. */
export function placementKey (region: string, deployment: string, term: number): string {
  return `${region}/${deployment}/${term}`
}

/** Parses a key of the namespace; throws `InvalidPlacementRecordError`. */
export function parsePlacementKey (key: string): PlacementKey {
  const parts = key.split('/')
  const shown = JSON.stringify(key.slice(0, 80))
  if (parts.length !== 3) throw new InvalidPlacementRecordError(`placement key ${shown} is not <region>/<deployment>/<term>`)
  const [region, deployment, term] = parts
  if (!REGION_PATTERN.test(region)) throw new InvalidPlacementRecordError(`placement key ${shown}: invalid region`)
  if (!NAME_PATTERN.test(deployment)) throw new InvalidPlacementRecordError(`placement key ${shown}: invalid deployment name`)
  if (!isTermText(term)) throw new InvalidPlacementRecordError(`placement key ${shown}: invalid term`)
  return { region, deployment, term: Number(term) }
}

/** The built-in rule of PLACEMENTS_NAMESPACE: the value is a placement record of the deployment and term its key names. */
export function checkPlacementEntry (key: string, value: unknown): void {
  const k = parsePlacementKey(key)
  const r = parsePlacementRecord(value)
  if (r.deployment !== k.deployment) throw new InvalidPlacementRecordError(`invalid placement record: deployment: ${JSON.stringify(r.deployment)} stored under key ${JSON.stringify(key.slice(0, 80))}`)
  if (r.term !== k.term) throw new InvalidPlacementRecordError(`invalid placement record: term: ${r.term} stored under key ${JSON.stringify(key.slice(0, 80))}`)
}

/** The record in force for one (region, deployment): the one of the highest term. */
export interface CurrentPlacement {
  region: string
  deployment: string
  key: string
  record: PlacementRecord
  /** Peer id of the node that wrote it, when the store knows it. */
  writer?: string
  /** Keys of the same (region, deployment) with older terms: superseded, for the holder to delete. */
  older: string[]
}

export interface CurrentPlacements {
  /** By `<region>/<deployment>`. */
  byDeployment: Map<string, CurrentPlacement>
  /** Entries skipped because key or value does not parse or they disagree (written by a release without the rule). */
  invalid: number
}

/** Map key of `CurrentPlacements.byDeployment`. */
export function placementSlot (region: string, deployment: string): string {
  return `${region}/${deployment}`
}

/**
 * The records in force among the entries of PLACEMENTS_NAMESPACE: per
 * (region, deployment), the highest term wins (term-records.ts). Never
 * throws: an entry that does not parse is skipped and counted. The answer
 * does not depend on the order of the entries.
 */
export function currentPlacements (entries: Iterable<readonly [string, { value: unknown, writer?: string }]>): CurrentPlacements {
  const set = inForce(entries, (key, value) => {
    checkPlacementEntry(key, value)
    const k = parsePlacementKey(key)
    return { slot: placementSlot(k.region, k.deployment), term: k.term, record: { k, record: parsePlacementRecord(value) } }
  })
  const byDeployment = new Map<string, CurrentPlacement>()
  for (const [slot, e] of set.bySlot) {
    const { k, record } = e.record
    byDeployment.set(slot, { region: k.region, deployment: k.deployment, key: e.key, record, ...(e.writer !== undefined ? { writer: e.writer } : {}), older: e.older })
  }
  return { byDeployment, invalid: set.invalid }
}
