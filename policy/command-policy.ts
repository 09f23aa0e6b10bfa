/**
 * Who may run which command, decided by every target for itself
 * (docs/commands.md "Authorization"). Operator commands are declared in
 * critical config key `commands` (BFT), one entry per name:
 *
 *   {"disk-usage": {"argv": ["/usr/bin/du", "-sh", "{path}"],
 *                   "params": {"path": {"type": "enum", "values": ["/var/lib/mycel", "/tmp"]}},
 *                   "allow": ["12D3KooW…"], "timeout": "10s"}}
 *
 * An argv element is either a literal or exactly one placeholder `{name}`:
 * a parameter fills one whole element, never part of one and never several,
 * and nothing reaches a shell. Parameters are typed — `string` (a required
 * RE2 `pattern`, matched against the whole value), `int` (min/max), `enum`
 * — and given positionally, in the order their placeholders appear in argv.
 * Nothing undeclared runs. The format is one rule (`COMMANDS_KEY_RULE` in
 * key-rules.ts) run where a value enters: proposer, validators, genesis.
 *
 * Built-ins: with a genesis, `ping` runs for any admitted member and the
 * others for the network's admins; without a genesis (an open network that
 * trusts its members) every member may run the built-ins, and operator
 * commands are unavailable: there is no critical config to declare them in.
 */
import { z } from 'zod'
import { RE2JS } from 're2js'
import { peerIdOf } from '../wire/peer-ids.js'
import { parseDuration } from '../protocols/artifacts/manifest.js'
import { CommandRefusedError } from '../protocols/command/errors.js'
import { COMMAND_NAME_PATTERN, MAX_ARG_CHARS, type CommandRequest } from '../protocols/command/messages.js'
import type { CriticalConfig } from '../protocols/bft/critical-state.js'
import { ADMINS_KEY } from '../protocols/bft/constants.js'

export const COMMANDS_KEY = 'commands'

/** Commands every agent of this release runs itself; operator declarations may not take these names. */
export const BUILTIN_COMMANDS = ['ping', 'component-restart', 'config-reload', 'gc', 'collect'] as const
export type BuiltinCommand = typeof BUILTIN_COMMANDS[number]

/** Longest declared `timeout`: the profile's maxExecTimeoutMs bounds it further at run time. */
export const MAX_DECLARED_TIMEOUT_MS = 10 * 60_000
export const MAX_DECLARED_COMMANDS = 256
const PARAM_NAME = /^[a-z][a-z0-9_]{0,31}$/
const PLACEHOLDER = /^\{([a-z][a-z0-9_]{0,31})\}$/
const COMPONENT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

export class InvalidCommandsSettingError extends Error {
  static name = 'InvalidCommandsSettingError'
  override name = 'InvalidCommandsSettingError'
}

const peerIdSchema = z.string().refine(s => { try { return peerIdOf(s).toString() === s } catch { return false } }, { message: 'expected a peer id such as 12D3KooW…' })

const paramSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('string'), pattern: z.string().min(1).max(512), maxLength: z.number().int().min(1).max(MAX_ARG_CHARS).optional() }),
  z.strictObject({ type: z.literal('int'), min: z.number().int(), max: z.number().int() }),
  z.strictObject({ type: z.literal('enum'), values: z.array(z.string().min(1).max(MAX_ARG_CHARS)).min(1).max(256) })
])
export type ParamSpec = z.infer<typeof paramSchema>

const declarationSchema = z.strictObject({
  argv: z.array(z.string().min(1).max(MAX_ARG_CHARS)).min(1).max(64),
  params: z.record(z.string().regex(PARAM_NAME), paramSchema).default({}),
  allow: z.array(peerIdSchema).min(1).max(1024),
  timeout: z.string().optional(),
  description: z.string().max(256).optional()
})

export interface Param { name: string, spec: ParamSpec, re?: RE2JS }

export interface OperatorCommand {
  name: string
  /** Literals as strings, placeholders as the index into `params`. */
  template: Array<string | number>
  /** In placeholder order: the order the caller gives values in. */
  params: Param[]
  allow: ReadonlySet<string>
  timeoutMs?: number
  description?: string
}

const refuse = (m: string): never => { throw new InvalidCommandsSettingError(m) }

function compileDeclaration (name: string, raw: unknown): OperatorCommand {
  if (!COMMAND_NAME_PATTERN.test(name)) refuse(`${JSON.stringify(name.slice(0, 64))}: command names are [a-z][a-z0-9-]{0,62}`)
  if ((BUILTIN_COMMANDS as readonly string[]).includes(name)) refuse(`${name}: a built-in command; pick another name`)
  const r = declarationSchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    refuse(`${name}.${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`)
  }
  const d = r.data as z.infer<typeof declarationSchema>
  if (!d.argv[0]?.startsWith('/')) refuse(`${name}.argv: the program (argv[0]) must be an absolute path, never looked up in PATH`)
  const params: Param[] = []
  const index = new Map<string, number>()
  const template = d.argv.map((el, i) => {
    const m = PLACEHOLDER.exec(el)
    if (m === null) {
      if (el.includes('{') || el.includes('}')) refuse(`${name}.argv.${i}: ${JSON.stringify(el.slice(0, 64))} mixes text and braces; a parameter fills a whole element, written exactly {name}`)
      return el
    }
    if (i === 0) refuse(`${name}.argv.0: the program cannot be a parameter`)
    const p = m[1] as string
    const spec = d.params[p]
    if (spec === undefined) refuse(`${name}.argv.${i}: parameter {${p}} is not declared in params`)
    if (index.has(p)) refuse(`${name}.argv.${i}: parameter {${p}} used twice`)
    index.set(p, params.length)
    params.push({ name: p, spec: spec as ParamSpec, ...(spec?.type === 'string' ? { re: compilePattern(name, p, spec.pattern) } : {}) })
    return params.length - 1
  })
  for (const p of Object.keys(d.params)) if (!index.has(p)) refuse(`${name}.params.${p}: declared but not used in argv`)
  for (const p of params) if (p.spec.type === 'int' && p.spec.min > p.spec.max) refuse(`${name}.params.${p.name}: min exceeds max`)
  let timeoutMs: number | undefined
  if (d.timeout !== undefined) {
    timeoutMs = parseDuration(d.timeout)
    if (timeoutMs === undefined || timeoutMs < 1 || timeoutMs > MAX_DECLARED_TIMEOUT_MS) refuse(`${name}.timeout: expected a duration like "10s" (ms, s, m, h) up to ${MAX_DECLARED_TIMEOUT_MS / 60_000}m`)
  }
  return { name, template, params, allow: new Set(d.allow), ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(d.description !== undefined ? { description: d.description } : {}) }
}

function compilePattern (cmd: string, param: string, pattern: string): RE2JS {
  try {
    // Anchored: the whole value must match, not a part of it.
    return RE2JS.compile(`^(?:${pattern})$`)
  } catch (err) {
    return refuse(`${cmd}.params.${param}.pattern: not an RE2 regular expression: ${(err as Error).message}`)
  }
}

/** `commands` as stored in critical config: JSON text, or null once deleted (no operator commands). */
export function parseCommands (value: string | null): Map<string, OperatorCommand> {
  const out = new Map<string, OperatorCommand>()
  if (value === null) return out
  let raw: unknown
  try { raw = JSON.parse(value) } catch { return refuse('must be JSON') }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) refuse('must be an object of command name → declaration')
  const entries = Object.entries(raw as Record<string, unknown>)
  if (entries.length > MAX_DECLARED_COMMANDS) refuse(`at most ${MAX_DECLARED_COMMANDS} commands`)
  for (const [name, decl] of entries) out.set(name, compileDeclaration(name, decl))
  return out
}

/** The key rule critical config runs on every entry and genesis value for `commands`. */
export const COMMANDS_KEY_RULE: readonly [string, (value: string | null) => void] = [COMMANDS_KEY, (value) => { parseCommands(value) }]

/** Throws CommandRefusedError('bad_params') unless `value` is of the parameter's type. */
export function checkParam (p: Param, value: string): void {
  const bad = (why: string): never => { throw new CommandRefusedError('bad_params', `parameter ${p.name}: ${why}`) }
  if (value.includes('\0')) bad('contains a NUL byte')
  switch (p.spec.type) {
    case 'enum':
      if (!p.spec.values.includes(value)) bad(`${JSON.stringify(value.slice(0, 64))} is not one of ${p.spec.values.map(v => JSON.stringify(v)).join(', ')}`)
      return
    case 'int': {
      if (!/^-?(0|[1-9][0-9]{0,15})$/.test(value)) bad(`${JSON.stringify(value.slice(0, 64))} is not an integer`)
      const n = Number(value)
      if (n < p.spec.min || n > p.spec.max) bad(`${n} is outside ${p.spec.min}..${p.spec.max}`)
      return
    }
    case 'string':
      if (value.length > (p.spec.maxLength ?? MAX_ARG_CHARS)) bad(`longer than ${p.spec.maxLength ?? MAX_ARG_CHARS} characters`)
      if (p.re?.matches(value) !== true) bad(`${JSON.stringify(value.slice(0, 64))} does not match ${p.spec.pattern}`)
  }
}

/** The argv to run: the template with each placeholder replaced by one checked value, element for element. */
export function expandArgv (cmd: OperatorCommand, args: readonly string[]): string[] {
  if (args.length !== cmd.params.length) {
    throw new CommandRefusedError('bad_params', `${cmd.name} takes ${cmd.params.length} argument(s) (${cmd.params.map(p => p.name).join(', ') || 'none'}), got ${args.length}`)
  }
  cmd.params.forEach((p, i) => { checkParam(p, args[i] as string) })
  return cmd.template.map(el => typeof el === 'string' ? el : args[el] as string)
}

export type Authorized =
  | { kind: 'builtin', name: BuiltinCommand, args: string[] }
  | { kind: 'operator', name: string, argv: string[], timeoutMs?: number }

export interface AuthorityView {
  /** The network's admins now; undefined without a genesis. */
  admins?: ReadonlySet<string>
  /** The declared operator commands; undefined without a genesis. An unreadable committed value is an empty map plus `problem`. */
  commands?: ReadonlyMap<string, OperatorCommand>
  problem?: string
  /** Whether a peer is a member this node knows (without a genesis: the trust an open network gives). */
  isMember: (peer: string) => boolean
}

/** Decide a request on this node: what to run, or a CommandRefusedError saying why not. */
export function authorize (req: Pick<CommandRequest, 'from' | 'name' | 'args'>, v: AuthorityView): Authorized {
  if ((BUILTIN_COMMANDS as readonly string[]).includes(req.name)) {
    const name = req.name as BuiltinCommand
    if (v.admins !== undefined) {
      if (name !== 'ping' && !v.admins.has(req.from)) throw new CommandRefusedError('unauthorised', `${req.from} is not an admin of this network; built-in ${name} is for admins`)
    } else if (!v.isMember(req.from)) {
      throw new CommandRefusedError('unauthorised', `${req.from} is not a member known here`)
    }
    checkBuiltinArgs(name, req.args)
    return { kind: 'builtin', name, args: [...req.args] }
  }
  if (v.commands === undefined) throw new CommandRefusedError('unavailable', 'operator commands need critical config (a network with a genesis); this one has none')
  const cmd = v.commands.get(req.name)
  if (cmd === undefined) throw new CommandRefusedError('undeclared', `${req.name} is not declared in critical config key "${COMMANDS_KEY}"${v.problem !== undefined ? ` (${v.problem})` : ''}`)
  if (!cmd.allow.has(req.from)) throw new CommandRefusedError('unauthorised', `${req.from} is not in ${req.name}'s allow list`)
  return { kind: 'operator', name: cmd.name, argv: expandArgv(cmd, req.args), ...(cmd.timeoutMs !== undefined ? { timeoutMs: cmd.timeoutMs } : {}) }
}

function checkBuiltinArgs (name: BuiltinCommand, args: readonly string[]): void {
  if (name === 'component-restart') {
    if (args.length !== 1 || !COMPONENT_NAME.test(args[0] as string)) throw new CommandRefusedError('bad_params', 'component-restart takes one component name')
    return
  }
  if (args.length !== 0) throw new CommandRefusedError('bad_params', `${name} takes no arguments`)
}

/** What this node's critical config says now: admins and declared commands (undefined without a genesis). */
export function authorityOf (critical: Pick<CriticalConfig, 'get'> | undefined, isMember: (peer: string) => boolean): AuthorityView {
  if (critical === undefined) return { isMember }
  let admins: Set<string>
  try { admins = new Set(JSON.parse(critical.get(ADMINS_KEY)?.value ?? '[]') as string[]) } catch { admins = new Set() }
  try {
    return { admins, commands: parseCommands(critical.get(COMMANDS_KEY)?.value ?? null), isMember }
  } catch (err) {
    return { admins, commands: new Map(), problem: `committed ${COMMANDS_KEY} cannot be read: ${(err as Error).message}`, isMember }
  }
}
