/**
 * The rule for config keys and values, one function each, run by the
 * writer before it builds a write (via canonicalEntry), by every receiver
 * on every decoded value (checkUpdate) and by every replica before it
 * shows a value (NamespaceRules.checkValue): plain JSON that survives the
 * Yjs encoding unchanged, within the limits. See crdt/entry.ts for why
 * some JSON does not survive it.
 */
import type { ConfigLimits } from './constants.js'
import { InvalidKeyError, LimitExceededError, SchemaViolationError } from './errors.js'

const encoder = new TextEncoder()

/**
 * Object keys that JavaScript treats specially when assigned. Only
 * `__proto__` changes meaning on decode; `constructor` and `prototype`
 * round-trip as plain own keys (setJsonEntry sidesteps Y.Map.set's use of
 * `value.constructor`), which the property test checks.
 */
const PROTO_KEY = '__proto__'

/** A lone (unpaired) UTF-16 surrogate, which UTF-8 cannot carry. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function loneSurrogate (s: string): string | undefined {
  const m = LONE_SURROGATE.exec(s)
  return m === null ? undefined : `U+${m[0].charCodeAt(0).toString(16).toUpperCase()}`
}

export function quote (s: string): string { return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s) }

/** Throws InvalidKeyError / LimitExceededError for a key no replica may hold. */
export function checkKey (key: string, limits: ConfigLimits): void {
  const n = encoder.encode(key).byteLength
  if (n === 0) throw new InvalidKeyError('empty key')
  if (n > limits.maxKeyBytes) throw new LimitExceededError(`key of ${n} bytes exceeds ${limits.maxKeyBytes}`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidKeyError('key contains control characters')
  const lone = loneSurrogate(key)
  if (lone !== undefined) throw new InvalidKeyError(`key holds a lone UTF-16 surrogate (${lone}), which is not valid Unicode and cannot be replicated`)
}

/**
 * Checks that `value` is plain JSON that replicates unchanged, and returns
 * the size of its JSON text in bytes. Refuses (SchemaViolationError, or
 * LimitExceededError for depth) undefined, bigint, binary, functions,
 * non-finite numbers, objects that are not plain, lone surrogates in
 * strings and keys, and the object key `__proto__`, naming where the
 * problem is. -0 is allowed: it round-trips (and reads back as 0 in JSON).
 */
export function checkJsonValue (value: unknown, maxDepth: number): number {
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth > maxDepth) throw new LimitExceededError(`value nested deeper than ${maxDepth} (at ${path})`)
    if (v === null || typeof v === 'boolean') return
    if (typeof v === 'string') {
      const lone = loneSurrogate(v)
      if (lone !== undefined) throw new SchemaViolationError(`string at ${path} holds a lone UTF-16 surrogate (${lone}), which is not valid Unicode and cannot be replicated`)
      return
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new SchemaViolationError(`value at ${path} is a non-finite number`)
      return
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`)
      return
    }
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      for (const k of Object.keys(v)) {
        if (k === PROTO_KEY) throw new SchemaViolationError(`object at ${path} has the key "__proto__", which JavaScript decoders turn into the object's prototype: it cannot be replicated; rename the key`)
        const lone = loneSurrogate(k)
        if (lone !== undefined) throw new SchemaViolationError(`object key ${quote(k)} at ${path} holds a lone UTF-16 surrogate (${lone}), which is not valid Unicode and cannot be replicated`)
        walk((v as Record<string, unknown>)[k], depth + 1, `${path}.${k}`)
      }
      return
    }
    const kind = v instanceof Uint8Array ? 'binary' : typeof v === 'object' ? 'an object that is not plain' : typeof v
    throw new SchemaViolationError(`value at ${path} is not JSON (${kind})`)
  }
  walk(value, 0, 'value')
  return encoder.encode(JSON.stringify(value)).byteLength
}

