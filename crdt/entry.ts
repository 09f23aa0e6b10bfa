/**
 * One local write of a config entry, in the form every replica will hold.
 *
 * A value travels as Yjs `ContentAny` (lib0's `writeAny`/`readAny`), not as
 * JSON text, and that encoding does not carry every JavaScript value that
 * JSON.parse can produce:
 * - strings are UTF-8: a lone UTF-16 surrogate ("\ud800") becomes U+FFFD;
 * - objects are rebuilt with `obj[key] = v`: an own key `__proto__` becomes
 *   the decoded object's prototype (or vanishes, for a primitive value);
 * - Y.Map.set picks the content type from `value.constructor`, so a value
 *   with an own `constructor` key is refused by Yjs itself.
 * A writer that stored such a value as given would show something no
 * receiver and no restart of its own shows, and receivers that refused it
 * would hold back the writer's later envelopes behind it. So the rule is:
 * the writer stores exactly what receivers decode. `canonicalEntry` refuses
 * what cannot be represented (with a message naming where), encodes the
 * entry as a receiver will receive it, runs the receiver's own check on
 * that encoding (checkUpdate) and returns the decoded value, which is what
 * the writer then stores. `checkJsonValue` is the same value rule that
 * receivers apply to every decoded value and every replica applies before
 * showing one.
 */
import * as Y from 'yjs'
import { ROOT_MAP, type ConfigLimits } from './constants.js'
import { LimitExceededError, SchemaViolationError } from './errors.js'
import { checkJsonValue, checkKey, quote } from './json-value.js'
import { checkUpdate } from './update-check.js'

/** Bytes an envelope adds to its update: fields, signature, Yjs origin and delete set of one overwrite. */
export const ENVELOPE_OVERHEAD = 512

/**
 * Set `key` to the JSON `value` inside a transaction on `map`: one Yjs item
 * holding ContentAny, exactly what Y.Map.set builds for JSON, except that
 * Y.Map.set chooses the content type by `value.constructor` and so throws
 * "Unexpected content type" for an object with an own `constructor` key.
 * Config values are always JSON, so the content type is never in question.
 */
export function setJsonEntry (tr: Y.Transaction, map: Y.Map<unknown>, key: string, value: unknown): void {
  const client = tr.doc.clientID
  const left = map._map.get(key) ?? null
  const id = Y.createID(client, Y.getState(tr.doc.store, client))
  new Y.Item(id, left, left?.lastId ?? null, null, null, map, key, new Y.ContentAny([value])).integrate(tr, 0)
}

export interface CanonicalEntry {
  /** The value as every receiver (and a restart) decodes it: store this, not the input. */
  value: unknown
  /** About how large the envelope of this write will be, bytes. */
  envelopeBytes: number
}

/**
 * The write `key = value` as receivers will see it, or a clear error. Run
 * by the writer before its document changes (a write cannot be taken back
 * once applied). `clientId` is the writer's Yjs client id.
 */
export function canonicalEntry (clientId: number, key: string, value: unknown, limits: ConfigLimits): CanonicalEntry {
  checkKey(key, limits)
  const size = checkJsonValue(value, limits.maxValueDepth)
  if (size > limits.maxValueBytes) throw new LimitExceededError(`value of ${size} bytes exceeds ${limits.maxValueBytes}`)
  // Encode on a scratch document, as the real write will be encoded (the
  // real update adds only an origin and a delete set, which
  // ENVELOPE_OVERHEAD covers), and check it exactly as a receiver will.
  const scratch = new Y.Doc()
  scratch.clientID = clientId
  const map = scratch.getMap<unknown>(ROOT_MAP)
  scratch.transact(tr => { setJsonEntry(tr, map, key, value) })
  const update = Y.encodeStateAsUpdate(scratch)
  scratch.destroy()
  const envelopeBytes = update.byteLength + ENVELOPE_OVERHEAD
  if (envelopeBytes > limits.maxEnvelopeBytes) {
    // Yjs encodes some values larger than their JSON (a non-float32 number is a 9-byte float64).
    throw new LimitExceededError(`value encodes to an envelope of about ${envelopeBytes} bytes, over ${limits.maxEnvelopeBytes}`)
  }
  const [entry] = checkUpdate(update, clientId, limits).entries
  if (entry === undefined || entry[0] !== key) throw new SchemaViolationError(`key ${quote(key)} does not survive encoding`)
  const problem = difference(value, entry[1], 'value')
  if (problem !== undefined) throw new SchemaViolationError(`value does not replicate unchanged: ${problem}`)
  return { value: entry[1], envelopeBytes }
}

/**
 * Where two JSON values differ (SameValue on leaves, so -0 ≠ 0; same own
 * keys; same prototypes), or undefined. The last line of defence: whatever
 * the checks above missed, a value that would not read back identically is
 * refused rather than stored differently here and elsewhere.
 */
function difference (a: unknown, b: unknown, path: string): string | undefined {
  if (Object.is(a, b)) return undefined
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return `${path} reads back as ${String(b)}`
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${path} changes shape`
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return `${path} reads back with ${kb.length} keys instead of ${ka.length}`
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return `${path} loses key ${quote(k)}`
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`)
    if (d !== undefined) return d
  }
  return undefined
}
