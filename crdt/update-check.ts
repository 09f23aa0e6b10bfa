/**
 * Structural check of a Yjs update from the network, before anything is
 * applied. An envelope's update may only:
 * - create items in its writer's own client id space (clientIdOf(writer)),
 * - hold plain JSON values (ContentAny of one value) or deleted content,
 * - live in the namespace's one root map, under a key (map entries),
 * - delete items (anyone's: overwriting or deleting a key deletes them).
 * Keys and values are checked against the size limits. Everything else
 * (nested Y types, text, binary, sub-documents, other roots) is refused, so
 * a document can never hold what the API cannot show.
 */
import * as Y from 'yjs'
import { ROOT_MAP, type ConfigLimits } from './constants.js'
import { InvalidUpdateError, LimitExceededError, SchemaViolationError } from './errors.js'
import { checkKey, jsonSize } from './namespaces.js'

export interface UpdateSummary {
  /** Keys the update sets directly (items with an explicit parent). */
  keys: string[]
  /** Items created. */
  items: number
}

export function checkUpdate (update: Uint8Array, clientId: number, limits: ConfigLimits): UpdateSummary {
  let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip>, ds: unknown }
  try {
    decoded = Y.decodeUpdate(update) as typeof decoded
  } catch (err) {
    // lib0 throws plain Errors and RangeErrors (stack) on garbage.
    throw new InvalidUpdateError(`Yjs update does not decode: ${(err as Error).message}`)
  }
  const keys: string[] = []
  let items = 0
  for (const s of decoded.structs) {
    if (s.id.client !== clientId) throw new InvalidUpdateError(`update creates items of client ${s.id.client}, not its writer's ${clientId}`)
    if (s instanceof Y.GC) continue
    if (!(s instanceof Y.Item)) throw new InvalidUpdateError(`unexpected struct ${s.constructor.name}`)
    items++
    const content = s.content
    if (content instanceof Y.ContentAny) {
      if (content.arr.length !== 1) throw new InvalidUpdateError('map entry with more than one value')
      try {
        const size = jsonSize(content.arr[0], limits.maxValueDepth)
        if (size > limits.maxValueBytes) throw new LimitExceededError(`value of ${size} bytes exceeds ${limits.maxValueBytes}`)
      } catch (err) {
        if ((err as Error).name === 'SchemaViolationError') throw new InvalidUpdateError((err as SchemaViolationError).message)
        throw err
      }
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
      checkKey(s.parentSub, limits)
      keys.push(s.parentSub)
    } else if (s.origin === null && s.rightOrigin === null) {
      throw new InvalidUpdateError('item without parent or origin')
    }
  }
  return { keys, items }
}
