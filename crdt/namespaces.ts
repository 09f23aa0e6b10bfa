/**
 * The `namespaces:` section of the agent config file: per namespace, who may
 * write it, an optional JSON Schema every value must satisfy, and size
 * limits tighter than the global ones. Entry `"*"` is the default for
 * namespaces without an entry; without it, unknown namespaces are open.
 *
 * ```yaml
 * namespaces:
 *   "*": { writers: open }
 *   network:
 *     writers: [12D3KooW..., 12D3KooW...]
 *     schema: { type: object, properties: { mtu: { type: integer } }, required: [mtu] }
 *     maxValueBytes: 4096
 * ```
 *
 * Namespaces the release itself defines (`mycel.deployments`) also carry a
 * built-in rule in code (BuiltinNamespaces), checked wherever the schema is.
 */
import { peerIdOf } from '../wire/peer-ids.js'
import { z } from 'zod'
import { NAMESPACE_PATTERN, type ConfigLimits } from './constants.js'
import { staticAccessPolicy, type AccessPolicy, type WriterRule } from './access.js'
import { InvalidNamespaceError, LimitExceededError, SchemaViolationError } from './errors.js'
import { checkJsonValue, checkKey } from './json-value.js'

/**
 * A writer in an ACL: a peer id exactly as the agents name themselves
 * (`12D3KooW…`), because access checks compare it with the `writer` of
 * each envelope as a string. Anything else (a typo, a CID form of the same
 * key, a host name) would silently match nobody.
 */
const writerSchema = z.string().superRefine((s, ctx) => {
  let canonical: string | undefined
  try { canonical = peerIdOf(s).toString() } catch {}
  if (canonical === s) return
  const shown = JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)
  ctx.addIssue({
    code: 'custom',
    message: canonical === undefined
      ? `${shown} is not a peer id: writers are peer ids such as 12D3KooW… as \`mycel init\` prints them (or \`writers: open\`)`
      : `${shown} is a peer id in another form; write it as ${canonical}`
  })
})

export const namespaceConfigSchema = z.strictObject({
  /** `open`, or the peer ids allowed to write. */
  writers: z.union([z.literal('open'), z.array(writerSchema).max(10_000)]).default('open'),
  /** JSON Schema (draft 2020-12 subset zod understands) of every value in the namespace. */
  schema: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
  maxValueBytes: z.number().int().positive().optional(),
  maxKeys: z.number().int().positive().optional()
})

export type NamespaceConfig = z.output<typeof namespaceConfigSchema>

export const namespacesSectionSchema = z.record(
  z.string().refine(k => k === '*' || NAMESPACE_PATTERN.test(k), { message: 'namespace names are [a-z0-9][a-z0-9._-]{0,62} or "*"' }),
  namespaceConfigSchema
).superRefine((section, ctx) => {
  for (const [ns, cfg] of Object.entries(section)) {
    if (cfg.schema === undefined) continue
    try {
      z.fromJSONSchema(cfg.schema as Parameters<typeof z.fromJSONSchema>[0])
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [ns, 'schema'], message: `unusable JSON Schema: ${(err as Error).message}` })
    }
  }
}).default({})

export type NamespacesSection = z.output<typeof namespacesSectionSchema>

/** What the store needs to know about namespaces, compiled once from the section. */
export interface NamespaceRules {
  access: AccessPolicy
  /** Throws SchemaViolationError / LimitExceededError / InvalidKeyError for a value that may not be stored under `key`. */
  checkValue: (ns: string, key: string, value: unknown) => void
  maxKeys: (ns: string) => number
}

/**
 * A namespace this release defines itself (e.g. `mycel.deployments`), whose
 * values are checked by code rather than by a JSON Schema from the agent
 * file. The agent hands the same rules to the config service on every node
 * of a release, so the writer and every receiver run the same check. It
 * throws (any Error; its message names the field) for a value that may not
 * be stored under `key`; the store reports it as a SchemaViolationError.
 */
export type BuiltinNamespaceRule = (key: string, value: unknown) => void

/** Built-in namespaces by name. Applied in addition to the file's rules for the namespace, never instead. */
export type BuiltinNamespaces = Readonly<Record<string, BuiltinNamespaceRule>>

export function checkNamespace (ns: string): void {
  if (!NAMESPACE_PATTERN.test(ns)) throw new InvalidNamespaceError(`invalid namespace ${JSON.stringify(ns.slice(0, 80))}: use [a-z0-9][a-z0-9._-]{0,62}`)
}

/** The writer rules of the config file's `namespaces:` section as an AccessPolicy. */
export function fileAccessPolicy (section: NamespacesSection = {}): AccessPolicy {
  const rules: Record<string, WriterRule> = {}
  for (const [ns, cfg] of Object.entries(section)) if (ns !== '*') rules[ns] = cfg.writers
  return staticAccessPolicy(rules, section['*']?.writers ?? 'open')
}

export function compileNamespaces (section: NamespacesSection, limits: ConfigLimits, access?: AccessPolicy, builtins: BuiltinNamespaces = {}): NamespaceRules {
  for (const ns of Object.keys(builtins)) checkNamespace(ns)
  const builtin = new Map(Object.entries(builtins))
  const validators = new Map<string, z.ZodType>()
  const maxValue = new Map<string, number>()
  const maxKeys = new Map<string, number>()
  for (const [ns, cfg] of Object.entries(section)) {
    if (cfg.schema !== undefined) validators.set(ns, z.fromJSONSchema(cfg.schema as Parameters<typeof z.fromJSONSchema>[0]))
    if (cfg.maxValueBytes !== undefined) maxValue.set(ns, Math.min(cfg.maxValueBytes, limits.maxValueBytes))
    if (cfg.maxKeys !== undefined) maxKeys.set(ns, Math.min(cfg.maxKeys, limits.maxKeysPerNamespace))
  }
  const pick = <T>(m: Map<string, T>, ns: string): T | undefined => m.get(ns) ?? m.get('*')
  return {
    access: access ?? fileAccessPolicy(section),
    checkValue (ns, key, value) {
      checkKey(key, limits)
      const size = checkJsonValue(value, limits.maxValueDepth)
      const max = pick(maxValue, ns) ?? limits.maxValueBytes
      if (size > max) throw new LimitExceededError(`value of ${size} bytes exceeds ${max} in namespace ${ns}`)
      const validator = pick(validators, ns)
      if (validator !== undefined) {
        const r = validator.safeParse(value)
        if (!r.success) throw new SchemaViolationError(`value for ${ns}/${key} violates the namespace schema: ${z.prettifyError(r.error).replace(/\n\s*/g, ' ')}`)
      }
      const rule = builtin.get(ns)
      if (rule === undefined) return
      try {
        rule(key, value)
      } catch (err) {
        throw new SchemaViolationError(`value for ${ns}/${key} violates the built-in rule of ${ns}: ${(err as Error).message}`)
      }
    },
    maxKeys: ns => pick(maxKeys, ns) ?? limits.maxKeysPerNamespace
  }
}
