/**
 * The component manifest, `mycel.component.yaml`: what a component is
 * (name, version), how to run it (entry, env), how to tell it is healthy
 * (health) and what it needs (requires). One set of field schemas serves two
 * readers: the YAML file a publisher writes (strict: an unknown key is a
 * typo, refused with its name, as daemon/config.ts does for the agent
 * config) and the signed manifest on the wire (not strict: docs/wire.md rule
 * 1, a newer publisher's fields are kept). Neither transforms a value (the
 * wire decoder returns the signed value as it arrived), so durations stay
 * strings like "2s" and `healthTimings` turns them into milliseconds.
 */
import { readFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import * as yaml from 'js-yaml'
import semver from 'semver'
import { z } from 'zod'
import {
  DEFAULT_FAILURE_THRESHOLD, DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_HEALTH_TIMEOUT_MS, ENV_NAME_PATTERN, MANIFEST_FILE,
  MAX_ARG_CHARS, MAX_ARGV, MAX_ENV_VALUE_CHARS, MAX_ENV_VARS, MAX_FAILURE_THRESHOLD, MAX_HEALTH_INTERVAL_MS, MAX_NAME_CHARS,
  MAX_RANGE_CHARS, MAX_REQUIRES, MAX_VERSION_CHARS, MIN_HEALTH_INTERVAL_MS, MIN_HEALTH_TIMEOUT_MS, MYCEL_REQUIREMENT,
  NAME_PATTERN, RESERVED_ENV_PREFIX
} from './constants.js'
import { InvalidManifestError } from './errors.js'

const DURATION = /^(\d{1,9})(ms|s|m|h)$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/** Milliseconds of a duration like `500ms`, `2s`, `5m`, `1h`; undefined when it is not one. */
export function parseDuration (s: string): number | undefined {
  const m = DURATION.exec(s)
  if (m === null) return undefined
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number)
}

const duration = (min: number, max: number): z.ZodType<string> => z.string().refine(s => {
  const ms = parseDuration(s)
  return ms !== undefined && ms >= min && ms <= max
}, { message: `expected a duration like "2s" or "500ms" (units ms, s, m, h) between ${min} ms and ${max} ms` })

/** True when a relative path climbs out of the directory it is relative to (a `..` segment). */
function escapes (arg: string): boolean {
  return !isAbsolute(arg) && arg.split('/').includes('..')
}

const argv = z.array(
  z.string().min(1, 'empty argument').max(MAX_ARG_CHARS).refine(s => !s.includes('\0'), { message: 'contains a NUL byte' })
    .refine(s => !escapes(s), { message: 'a relative path may not leave the component directory (".." segment)' })
).min(1, 'expected at least the program to run').max(MAX_ARGV)

export const componentName = z.string().max(MAX_NAME_CHARS).regex(NAME_PATTERN, 'expected lowercase letters, digits and "-", starting and ending with a letter or digit')

export const componentVersion = z.string().max(MAX_VERSION_CHARS).refine(v => semver.valid(v) === v, {
  message: 'expected a semantic version like 1.2.0 (https://semver.org)'
})

const envName = z.string().regex(ENV_NAME_PATTERN, 'expected an environment name like LOG_LEVEL')
  .refine(k => !k.startsWith(RESERVED_ENV_PREFIX), { message: `names starting with ${RESERVED_ENV_PREFIX} are the host's` })
  .refine(k => k !== '__proto__', { message: 'reserved name' })

const requirementName = z.string().refine(k => k === MYCEL_REQUIREMENT || (k.length <= MAX_NAME_CHARS && NAME_PATTERN.test(k)), {
  message: `expected "${MYCEL_REQUIREMENT}" or a component name`
})

const range = z.string().max(MAX_RANGE_CHARS).refine(r => semver.validRange(r) !== null, { message: 'expected a semver range like ">=0.2.0"' })

const HEALTH_PROBES = ['exec', 'http', 'tcp'] as const

/** `HOST:PORT` with a port in range. */
const hostPort = z.string().max(256).regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT')
  .refine(s => { const port = Number(s.slice(s.lastIndexOf(':') + 1)); return port >= 1 && port <= 65535 }, { message: 'port out of range (1-65535)' })

const httpUrl = z.string().max(2048).refine(s => {
  try { return ['http:', 'https:'].includes(new URL(s).protocol) } catch { return false }
}, { message: 'expected an http:// or https:// URL' })

/** The fields, strict (a file a person wrote) or not (a signed body: docs/wire.md rule 1). */
function fields (strict: boolean): z.ZodRawShape {
  const object = <S extends z.ZodRawShape>(shape: S): z.ZodObject<S> => strict ? z.strictObject(shape) as unknown as z.ZodObject<S> : z.object(shape)
  const health = object({
    exec: argv.optional(),
    http: httpUrl.optional(),
    tcp: hostPort.optional(),
    interval: duration(MIN_HEALTH_INTERVAL_MS, MAX_HEALTH_INTERVAL_MS).optional(),
    timeout: duration(MIN_HEALTH_TIMEOUT_MS, MAX_HEALTH_INTERVAL_MS).optional(),
    failureThreshold: z.number().int().min(1).max(MAX_FAILURE_THRESHOLD).optional()
  }).superRefine((h, ctx) => {
    const set = HEALTH_PROBES.filter(p => h[p] !== undefined)
    if (set.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${HEALTH_PROBES.join(' | ')}, found ${set.length === 0 ? 'none' : set.join(' and ')}` })
    }
    const t = healthTimings(h as Health)
    if (t.timeoutMs > t.intervalMs) ctx.addIssue({ code: 'custom', path: ['timeout'], message: `longer than the interval (${t.intervalMs} ms)` })
  })
  return {
    name: componentName,
    version: componentVersion,
    entry: argv,
    env: z.record(envName, z.string().max(MAX_ENV_VALUE_CHARS).refine(s => !s.includes('\0'), { message: 'contains a NUL byte' }))
      .refine(e => Object.keys(e).length <= MAX_ENV_VARS, { message: `more than ${MAX_ENV_VARS} variables` }).optional(),
    health: health.optional(),
    requires: z.record(requirementName, range)
      .refine(r => Object.keys(r).length <= MAX_REQUIRES, { message: `more than ${MAX_REQUIRES} requirements` }).optional()
  }
}

/** A component must not require itself: it could never be satisfied by another version. */
function notSelfRequiring (value: object, ctx: z.RefinementCtx): void {
  const m = value as { name: string, requires?: Record<string, string> }
  if (m.requires !== undefined && Object.hasOwn(m.requires, m.name)) {
    ctx.addIssue({ code: 'custom', path: ['requires', m.name], message: 'a component cannot require itself' })
  }
}

export interface Health {
  exec?: string[]
  http?: string
  tcp?: string
  interval?: string
  timeout?: string
  failureThreshold?: number
}

/** A component manifest: what `mycel.component.yaml` holds. */
export interface Manifest {
  name: string
  version: string
  entry: string[]
  env?: Record<string, string>
  health?: Health
  requires?: Record<string, string>
}

/** The file's schema: unknown keys refused at every depth. */
export const manifestFileSchema = z.strictObject(fields(true)).superRefine(notSelfRequiring) as unknown as z.ZodType<Manifest>

/** The manifest fields inside a signed body: unknown keys accepted (and kept by decodeSigned). */
export const manifestWireShape = fields(false)
export { notSelfRequiring }

/** Health timings in milliseconds, with the defaults for what the manifest leaves out. */
export function healthTimings (h: Health): { intervalMs: number, timeoutMs: number, failureThreshold: number } {
  return {
    intervalMs: h.interval === undefined ? DEFAULT_HEALTH_INTERVAL_MS : (parseDuration(h.interval) ?? DEFAULT_HEALTH_INTERVAL_MS),
    timeoutMs: h.timeout === undefined ? DEFAULT_HEALTH_TIMEOUT_MS : (parseDuration(h.timeout) ?? DEFAULT_HEALTH_TIMEOUT_MS),
    failureThreshold: h.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD
  }
}

/** `invalid value for "health.interval": …` or `unknown key "helth"`: the first problem, naming its key. */
export function formatManifestIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid manifest'
  const key = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map(k => `"${key === '' ? k : `${key}.${k}`}"`).join(', ')
    return `unknown key ${names}`
  }
  // A bad record key (env, requires) carries the key schema's own message inside.
  let message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message
  // YAML reads `version: 1.2` or `interval: 2` as a number: say how to write the string.
  if (issue.code === 'invalid_type' && issue.expected === 'string') message += ' (quote the value in YAML)'
  return key === '' ? `invalid manifest: ${message}` : `invalid value for "${key}": ${message}`
}

/** Parse the text of a manifest file; `source` names it in errors. Throws InvalidManifestError. */
export function parseManifest (text: string, source = MANIFEST_FILE): Manifest {
  let raw: unknown
  try {
    // JSON_SCHEMA: no YAML 1.1 surprises (dates, `yes` as true, octal).
    raw = yaml.load(text, { schema: yaml.JSON_SCHEMA })
  } catch (err) {
    throw new InvalidManifestError(`${source} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidManifestError(`${source}: expected a mapping of keys (name, version, entry, …)`)
  const parsed = manifestFileSchema.safeParse(raw)
  if (!parsed.success) throw new InvalidManifestError(`${source}: ${formatManifestIssue(parsed.error)}`)
  return parsed.data
}

/** Read and parse `DIR/mycel.component.yaml`. */
export async function readManifest (dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new InvalidManifestError(`cannot read ${path}: ${(err as Error).message}`)
  }
  return parseManifest(text, path)
}

/**
 * The argv to spawn, for a component unpacked in `dir` (which is also its
 * working directory): a program named by a relative path (`./run`,
 * `bin/server`) is resolved inside `dir`; a bare name (`sh`) is looked up on
 * PATH and an absolute one used as is. Throws InvalidManifestError if a
 * relative program would leave `dir` (the schema already refuses `..`; this
 * is the check at the place it matters).
 */
export function resolveArgv (args: readonly string[], dir: string): string[] {
  const [program, ...rest] = args
  if (program === undefined) throw new InvalidManifestError('empty argv')
  if (isAbsolute(program) || !program.includes('/')) return [program, ...rest]
  const root = resolve(dir)
  const full = resolve(root, program)
  const rel = relative(root, full)
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new InvalidManifestError(`entry ${program} resolves outside the component directory`)
  }
  return [full, ...rest]
}
