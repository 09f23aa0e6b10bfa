/**
 * Test parameter checks and the TEST_INSTANCE_PARAMS encoding.
 *
 * The sdk unpacks `k=v|k2=v2` by splitting on '|' and then '=' and silently drops any pair that
 * does not split into exactly two parts, so a value holding '|' or '=' would vanish inside the
 * instance. We refuse such values up front instead.
 */
import { ParamError } from './errors.js'
import type { ParamSpec, TestCaseSpec } from './manifest.js'

/** Go's time.ParseDuration syntax (what testground plans use for `duration` params). */
const GO_DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/
const INT = /^-?[0-9]+$/

/** Converts a Go duration string to milliseconds. */
export function parseGoDuration (s: string): number {
  if (!GO_DURATION.test(s)) throw new ParamError(`not a duration: ${JSON.stringify(s)} (use e.g. 500ms, 10s, 1m30s)`)
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]]
  return total
}

function checkValue (name: string, spec: ParamSpec, value: string): void {
  const bad = (why: string): never => { throw new ParamError(`param "${name}" = ${JSON.stringify(value)}: ${why}`) }
  switch (spec.type) {
    case 'int': if (!INT.test(value)) bad('expected an integer'); break
    case 'float': if (value.trim() === '' || !Number.isFinite(Number(value))) bad('expected a number'); break
    case 'bool': if (value !== 'true' && value !== 'false') bad('expected true or false'); break
    case 'duration': if (!GO_DURATION.test(value)) bad('expected a duration like 500ms, 10s, 1m30s'); break
    case 'json': try { JSON.parse(value) } catch { bad('expected JSON') } break
    case 'enum': if (!(spec.options ?? []).includes(value)) bad(`expected one of ${(spec.options ?? []).join(', ')}`); break
    case 'string': break
  }
}

/**
 * Checks the merged parameters of one group against the test case: every declared parameter has a
 * value of its type, nothing undeclared is passed (a typo would otherwise be ignored silently), and
 * every value survives the TEST_INSTANCE_PARAMS encoding.
 */
export function validateParams (tc: TestCaseSpec, params: Record<string, string>, where: string): void {
  for (const [name, value] of Object.entries(params)) {
    const spec = tc.params[name]
    if (spec === undefined) {
      const known = Object.keys(tc.params)
      throw new ParamError(`${where}: unknown param "${name}" for test case "${tc.name}"; known: ${known.length > 0 ? known.join(', ') : '(none)'}`)
    }
    if (/[|=]/.test(name) || /[|=]/.test(value)) {
      throw new ParamError(`${where}: param "${name}" = ${JSON.stringify(value)}: names and values may not contain '|' or '=' (TEST_INSTANCE_PARAMS encoding)`)
    }
    try {
      checkValue(name, spec, value)
    } catch (err) {
      if (err instanceof ParamError) err.message = `${where}: ${err.message}`
      throw err
    }
  }
  for (const name of Object.keys(tc.params)) {
    if (params[name] === undefined) throw new ParamError(`${where}: missing param "${name}" (no default in the manifest, none in the composition)`)
  }
}

/** Encodes params the way testground passes them in TEST_INSTANCE_PARAMS. Keys sorted for stable output. */
export function packParams (params: Record<string, string>): string {
  return Object.keys(params).sort().map(k => `${k}=${params[k]}`).join('|')
}
