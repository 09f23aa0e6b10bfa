/**
 * Parsing and validation of a testground plan's manifest.toml.
 *
 * Follows testground's own model (pkg/api/manifest.go): `name`, `[defaults]`, `[builders."x"]`,
 * `[runners."x"]`, `[[testcases]]` with `instances = { min, max, default }` and
 * `[testcases.params] p = { type, desc, unit, default }`. testground itself does not check parameter
 * types; we check the ones we know so a typo fails before any instance starts.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseToml, TomlError } from 'smol-toml'
import { ManifestError } from './errors.js'

/** Parameter types we validate. testground's own plans use these names. */
export const PARAM_TYPES = ['int', 'float', 'bool', 'string', 'duration', 'json', 'enum'] as const
export type ParamType = typeof PARAM_TYPES[number]

export interface ParamSpec {
  type: ParamType
  desc: string
  unit: string
  /** Absent means the composition must provide a value. */
  default?: unknown
  /** Allowed values, for `type = "enum"`. */
  options?: string[]
}

export interface TestCaseSpec {
  name: string
  instances: { min: number, max: number, default?: number }
  params: Record<string, ParamSpec>
}

export interface Manifest {
  name: string
  defaults: { builder?: string, runner?: string }
  builders: Record<string, Record<string, unknown>>
  runners: Record<string, Record<string, unknown>>
  testcases: TestCaseSpec[]
  extraSources: Record<string, string[]>
}

type Table = Record<string, unknown>

function isTable (v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
}

function str (v: unknown, where: string, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v === '') throw new ManifestError(`${where} must be a non-empty string`)
  return v
}

function int (v: unknown, where: string): number {
  if (typeof v === 'bigint') v = Number(v)
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ManifestError(`${where} must be an integer`)
  return v
}

function tablesOf (v: unknown, where: string): Record<string, Record<string, unknown>> {
  if (v === undefined) return {}
  if (!isTable(v)) throw new ManifestError(`${where} must be a table`)
  const out: Record<string, Record<string, unknown>> = {}
  for (const [k, t] of Object.entries(v)) {
    if (!isTable(t)) throw new ManifestError(`${where}."${k}" must be a table`)
    out[k] = t
  }
  return out
}

function parseParam (tc: string, name: string, raw: unknown): ParamSpec {
  const where = `testcase "${tc}" param "${name}"`
  if (!isTable(raw)) throw new ManifestError(`${where} must be a table like { type = "int", default = 1 }`)
  const type = raw.type ?? 'string'
  if (typeof type !== 'string' || !(PARAM_TYPES as readonly string[]).includes(type)) {
    throw new ManifestError(`${where}: unknown type ${JSON.stringify(type)}; known: ${PARAM_TYPES.join(', ')}`)
  }
  const spec: ParamSpec = {
    type: type as ParamType,
    desc: typeof raw.desc === 'string' ? raw.desc : '',
    unit: typeof raw.unit === 'string' ? raw.unit : ''
  }
  if (raw.options !== undefined) {
    if (!Array.isArray(raw.options) || !raw.options.every(o => typeof o === 'string')) {
      throw new ManifestError(`${where}: options must be an array of strings`)
    }
    spec.options = raw.options as string[]
  }
  if (spec.type === 'enum' && spec.options === undefined) throw new ManifestError(`${where}: enum needs options`)
  if (raw.default !== undefined) spec.default = typeof raw.default === 'bigint' ? Number(raw.default) : raw.default
  return spec
}

function parseTestCase (raw: unknown, i: number): TestCaseSpec {
  if (!isTable(raw)) throw new ManifestError(`testcases[${i}] must be a table`)
  const name = str(raw.name, `testcases[${i}].name`, true) as string
  const inst = raw.instances
  if (!isTable(inst)) throw new ManifestError(`testcase "${name}": instances = { min, max } is required`)
  const min = int(inst.min, `testcase "${name}" instances.min`)
  const max = int(inst.max, `testcase "${name}" instances.max`)
  if (min < 1 || max < min) throw new ManifestError(`testcase "${name}": need 1 <= instances.min <= instances.max, got [${min}, ${max}]`)
  const instances: TestCaseSpec['instances'] = { min, max }
  if (inst.default !== undefined) {
    instances.default = int(inst.default, `testcase "${name}" instances.default`)
    if (instances.default < min || instances.default > max) {
      throw new ManifestError(`testcase "${name}": instances.default ${instances.default} outside [${min}, ${max}]`)
    }
  }
  const params: Record<string, ParamSpec> = {}
  if (raw.params !== undefined) {
    if (!isTable(raw.params)) throw new ManifestError(`testcase "${name}": params must be a table`)
    for (const [p, spec] of Object.entries(raw.params)) params[p] = parseParam(name, p, spec)
  }
  return { name, instances, params }
}

/** Parses manifest text; `source` names the file in error messages. */
export function parseManifest (text: string, source = 'manifest.toml'): Manifest {
  let doc: Table
  try {
    doc = parseToml(text) as Table
  } catch (err) {
    const msg = err instanceof TomlError ? err.message : String(err)
    throw new ManifestError(`${source}: invalid TOML: ${msg}`)
  }
  try {
    const name = str(doc.name, 'name', true) as string
    const defaultsRaw = doc.defaults === undefined ? {} : doc.defaults
    if (!isTable(defaultsRaw)) throw new ManifestError('[defaults] must be a table')
    const builders = tablesOf(doc.builders, '[builders]')
    const runners = tablesOf(doc.runners, '[runners]')
    if (Object.keys(builders).length === 0) throw new ManifestError('plan supports no builders; add a [builders."docker:node"] table')
    if (Object.keys(runners).length === 0) throw new ManifestError('plan supports no runners; add a [runners."local:docker"] table')
    if (!Array.isArray(doc.testcases) || doc.testcases.length === 0) throw new ManifestError('at least one [[testcases]] is required')
    const testcases = doc.testcases.map(parseTestCase)
    const seen = new Set<string>()
    for (const tc of testcases) {
      if (seen.has(tc.name)) throw new ManifestError(`duplicate testcase "${tc.name}"`)
      seen.add(tc.name)
    }
    const extraSources: Record<string, string[]> = {}
    if (isTable(doc.extra_sources)) {
      for (const [b, dirs] of Object.entries(doc.extra_sources)) {
        if (!Array.isArray(dirs) || !dirs.every(d => typeof d === 'string')) throw new ManifestError(`extra_sources.${b} must be an array of paths`)
        extraSources[b] = dirs as string[]
      }
    }
    const defaults = {
      builder: str(defaultsRaw.builder, '[defaults] builder', false),
      runner: str(defaultsRaw.runner, '[defaults] runner', false)
    }
    if (defaults.builder !== undefined && builders[defaults.builder] === undefined) {
      throw new ManifestError(`[defaults] builder "${defaults.builder}" has no [builders."${defaults.builder}"] table`)
    }
    if (defaults.runner !== undefined && runners[defaults.runner] === undefined) {
      throw new ManifestError(`[defaults] runner "${defaults.runner}" has no [runners."${defaults.runner}"] table`)
    }
    return { name, defaults, builders, runners, testcases, extraSources }
  } catch (err) {
    if (err instanceof ManifestError) err.message = `${source}: ${err.message}`
    throw err
  }
}

export async function loadManifest (path: string): Promise<Manifest> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ManifestError(`cannot read ${path}: ${(err as Error).message}`)
  }
  return parseManifest(text, path)
}

export function testCaseByName (m: Manifest, name: string): TestCaseSpec | undefined {
  return m.testcases.find(tc => tc.name === name)
}

/**
 * A test case's default parameters as strings, the way testground renders them: strings as they
 * are, everything else JSON-encoded (so `default = 5` becomes "5", `default = true` becomes "true").
 */
export function defaultParameters (tc: TestCaseSpec): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, spec] of Object.entries(tc.params)) {
    if (spec.default === undefined) continue
    out[name] = typeof spec.default === 'string' ? spec.default : JSON.stringify(spec.default)
  }
  return out
}
