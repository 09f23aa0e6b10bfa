/**
 * Structural check of a Yjs update from the network, before anything is
 * applied. An envelope's update may only:
 * - create items in its writer's own client id space (clientIdOf(writer)),
 * - hold plain JSON values (ContentAny of one value) or deleted content,
 * - live in the namespace's one root map, under a key (map entries),
 * - delete items (anyone's: overwriting or deleting a key deletes them).
 * Keys and values are checked by the same rules the writer applied before
 * writing (json-value.ts) and against the size limits. Everything else
 * (nested Y types, text, binary, sub-documents, other roots) is refused, so
 * a document can never hold what the API cannot show.
 */
import * as Y from 'yjs'
import { ROOT_MAP, type ConfigLimits } from './constants.js'
import { InvalidUpdateError, LimitExceededError } from './errors.js'
import { checkJsonValue, checkKey } from './json-value.js'

/**
 * Per Yjs client, the clock the document must have reached before an
 * update may apply: past every item it deletes or positions new items
 * against. Applying only such updates keeps Yjs free of pending structs and
 * pending deletes (see Replica.dependenciesPresent).
 */
export type CausalNeeds = Array<[client: number, end: number]>

export interface UpdateSummary {
  /** Keys the update sets directly (items with an explicit parent). */
  keys: string[]
  /** Those keys with their values as decoded: exactly what applying the update stores. */
  entries: Array<[key: string, value: unknown]>
  /** Items created. */
  items: number
  /** Causal dependencies: deletes and origins. */
  causalNeeds: CausalNeeds
}

export function checkUpdate (update: Uint8Array, clientId: number, limits: ConfigLimits): UpdateSummary {
  let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip>, ds: { clients: Map<number, Array<{ clock: number, len: number }>> } }
  try {
    decoded = Y.decodeUpdate(update) as typeof decoded
  } catch (err) {
    // lib0 throws plain Errors and RangeErrors (stack) on garbage.
    throw new InvalidUpdateError(`Yjs update does not decode: ${(err as Error).message}`)
  }
  const keys: string[] = []
  const entries: Array<[string, unknown]> = []
  let items = 0
  for (const s of decoded.structs) {
    if (s.id.client !== clientId) throw new InvalidUpdateError(`update creates items of client ${s.id.client}, not its writer's ${clientId}`)
    if (s instanceof Y.GC) continue
    if (!(s instanceof Y.Item)) throw new InvalidUpdateError(`unexpected struct ${s.constructor.name}`)
    items++
    const content = s.content
    if (content instanceof Y.ContentAny) {
      if (content.arr.length !== 1) throw new InvalidUpdateError('map entry with more than one value')
      const size = asUpdateError(() => checkJsonValue(content.arr[0], limits.maxValueDepth))
      if (size > limits.maxValueBytes) throw new LimitExceededError(`value of ${size} bytes exceeds ${limits.maxValueBytes}`)
    } else if (!(content instanceof Y.ContentDeleted)) {
      throw new InvalidUpdateError(`unsupported content ${content.constructor.name}`)
    }
    // Items with an origin inherit parent and key from it; those without
    // name them, and that is where a foreign root or a non-map use shows.
    // Decoded but not integrated: parent is a root name, a parent item id, or null.
    const parent = s.parent as unknown
    if (parent !== null) {
      if (parent !== ROOT_MAP) throw new InvalidUpdateError('update writes outside the config map')
      if (s.parentSub === null) throw new InvalidUpdateError('update inserts into the config map as a sequence')
      const key = s.parentSub
      asUpdateError(() => { checkKey(key, limits) })
      keys.push(key)
      if (content instanceof Y.ContentAny) entries.push([key, content.arr[0]])
    } else if (s.origin === null && s.rightOrigin === null) {
      throw new InvalidUpdateError('item without parent or origin')
    }
  }
  let ownStart = Infinity
  let ownEnd = 0
  for (const s of decoded.structs) {
    ownStart = Math.min(ownStart, s.id.clock)
    ownEnd = Math.max(ownEnd, s.id.clock + s.length)
  }
  // What must already be in the document: every item the update deletes,
  // and every item its new items are placed next to (origins).
  const ends = new Map<number, number>()
  const need = (client: number, end: number): void => { if (end > (ends.get(client) ?? 0)) ends.set(client, end) }
  for (const [client, ranges] of decoded.ds.clients) for (const r of ranges) need(client, r.clock + r.len)
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item)) continue
    if (s.origin !== null) need(s.origin.client, s.origin.clock + 1)
    if (s.rightOrigin !== null) need(s.rightOrigin.client, s.rightOrigin.clock + 1)
  }
  const causalNeeds: CausalNeeds = []
  for (let [client, end] of ends) {
    // Items the update itself creates come with it: for those, only what
    // precedes the update must exist.
    if (client === clientId && end <= ownEnd) end = Math.min(end, ownStart)
    if (end > 0) causalNeeds.push([client, end])
  }
  return { keys, entries, items, causalNeeds }
}

/** The shared key and value rules throw store errors; in an update they are InvalidUpdateError, except limits. */
function asUpdateError<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if ((err as Error).name === 'LimitExceededError') throw err
    throw new InvalidUpdateError((err as Error).message)
  }
}
