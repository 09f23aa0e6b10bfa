/**
 * The agent's command part (docs/commands.md): the protocol service
 * (protocols/command), the authorization every target runs
 * (policy/command-policy.ts), the built-ins (command-builtins.ts), the
 * audit records in `mycel.audit`, and the admin route. One factory, so the
 * composition root adds it with one call.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { ProfileName } from '../lib/tunables.js'
import type { Fault } from '../lib/faults.js'
import { commandService, commandTunables, runArgv, type CommandComponents, type CommandOutcome, type CommandRequest, type CommandService, type Execution, type Targets } from '../protocols/command/index.js'
import { AUDIT_NAMESPACE, auditKey, auditRecord, checkAuditEntry, COMMANDS_AUDIT_PREFIX } from '../protocols/command/audit.js'
import { authorityOf, authorize, COMMANDS_KEY, parseCommands, type AuthorityView } from '../policy/command-policy.js'
import type { CriticalConfig } from '../protocols/bft/critical-state.js'
import { ADMINS_KEY } from '../protocols/bft/constants.js'
import type { MembershipView } from '../protocols/membership/types.js'
import type { Roles } from '../managers/index.js'
import { logTracer, type Tracer } from '../wire/tracing.js'
import { runBuiltin, type BuiltinDeps } from './command-builtins.js'
import { commandRoutes } from './api/routes/commands.js'
import type { Route } from './api/router.js'
import type { AgentConfig } from './config.js'

/** Audit records one originator keeps; older ones of its own are deleted as new ones are written. */
export const AUDIT_KEEP_PER_ORIGINATOR = 1000

/** What the audit writer needs of replicated config. */
export interface AuditSink {
  started: boolean
  write: (ns: string, key: string, value: unknown, opts?: { deleted?: boolean }) => Promise<unknown>
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
}

export interface CommandsWiring {
  profile: ProfileName
  config: AgentConfig
  configFile?: string
  version: string
  startedAt: number
  membership: Pick<MembershipView, 'members' | 'get'>
  critical?: Pick<CriticalConfig, 'get'>
  roles: () => Roles | undefined
  audit: AuditSink
  restartComponent: (name: string) => Promise<void>
  collectArchives: () => Promise<void>
  releases: () => number
  faults: () => Fault[]
  registry: Registry
  logger: Logger
  /** The agent's tracer (daemon/tracing.ts): command hops go to the log store and, when configured, OTLP. */
  tracer?: Tracer
}

/** Alive or suspect: a suspect member may well answer, a dead or departed one will not. */
const reachable = (state: string): boolean => state === 'alive' || state === 'suspect'

export function commandsPart (w: CommandsWiring, components: CommandComponents & { region: string }): { service: CommandService, routes: () => Route[] } {
  const cfg = commandTunables.defaults(w.profile)
  const self = components.peerId
  const logger = w.logger.child({ component: 'command' })
  const holds = (role: string): boolean => w.roles()?.election.local().some(l => l.role === role && l.acting) ?? false
  const held = (): string[] => w.roles()?.election.local().filter(l => l.acting).map(l => l.role) ?? []

  const isTarget = (t: Targets): boolean =>
    (t.regions === undefined || t.regions.includes(components.region)) &&
    (t.nodes === undefined || t.nodes.includes(self)) &&
    (t.role === undefined || holds(t.role))

  const expected = (t: Targets): string[] => {
    const holders = t.role === undefined
      ? undefined
      : new Set((w.roles()?.election.view() ?? []).filter(v => v.role === t.role && v.holder !== undefined && v.status === 'active').map(v => v.holder as string))
    return w.membership.members()
      .filter(m => reachable(m.state) || m.peerId === self)
      .filter(m => (t.regions === undefined || t.regions.includes(m.region)) && (t.nodes === undefined || t.nodes.includes(m.peerId)) && (holders === undefined || holders.has(m.peerId)))
      .map(m => m.peerId)
  }

  // Parsing `commands` compiles its patterns: once per committed value, not per request.
  let cached: { admins?: string, commands?: string, view: AuthorityView } | undefined
  const isMember = (peer: string): boolean => { const m = w.membership.get(peer); return m !== undefined && reachable(m.state) }
  const authority = (): AuthorityView => {
    const admins = w.critical?.get(ADMINS_KEY)?.value
    const commands = w.critical?.get(COMMANDS_KEY)?.value
    if (cached === undefined || cached.admins !== admins || cached.commands !== commands) cached = { admins, commands, view: authorityOf(w.critical, isMember) }
    return cached.view
  }

  const builtins: BuiltinDeps = {
    peerId: self,
    region: components.region,
    version: w.version,
    startedAt: w.startedAt,
    held,
    members: () => w.membership.members(),
    roles: () => { const r = w.roles(); return r === undefined ? undefined : { view: r.election.view(), local: r.election.local() } },
    faults: w.faults,
    registry: w.registry,
    restartComponent: w.restartComponent,
    collectArchives: w.collectArchives,
    releases: w.releases,
    config: w.config,
    ...(w.configFile !== undefined ? { configFile: w.configFile } : {}),
    logger: w.logger,
    maxOutputBytes: cfg.maxOutputBytes
  }

  const execute = async (req: CommandRequest, signal: AbortSignal): Promise<Execution> => {
    const a = authorize(req, authority())
    if (a.kind === 'builtin') return await runBuiltin(a.name, a.args, builtins)
    const timeoutMs = Math.min(a.timeoutMs ?? cfg.execTimeoutMs, cfg.maxExecTimeoutMs)
    const r = await runArgv(a.argv, { timeoutMs, maxOutputBytes: cfg.maxOutputBytes, signal })
    return { ok: r.exitCode === 0, exitCode: r.exitCode, output: r.output, ...(r.error !== undefined ? { error: r.error } : {}) }
  }

  const onOutcome = (o: CommandOutcome): void => { void writeAudit(w.audit, self, o, logger) }

  const service = commandService({ config: cfg, tracer: w.tracer ?? logTracer(w.logger), isTarget, expected, execute, onOutcome })(components)
  return { service, routes: () => commandRoutes({ service, config: cfg, audit: w.audit, knownCommands: () => [...(authority().commands?.keys() ?? [])] }) }
}

async function writeAudit (sink: AuditSink, self: string, o: CommandOutcome, log: Logger): Promise<void> {
  if (!sink.started) return
  try {
    const record = auditRecord(o)
    checkAuditEntry(auditKey(record.id), record)
    await sink.write(AUDIT_NAMESPACE, auditKey(record.id), record)
    // Bounded: this originator's oldest records go once it has more than it keeps.
    const mine = sink.entries(AUDIT_NAMESPACE)
      .filter(([k, e]) => k.startsWith(COMMANDS_AUDIT_PREFIX) && e.writer === self)
      .map(([k, e]) => ({ k, at: (e.value as { issuedAt?: number }).issuedAt ?? 0 }))
    if (mine.length <= AUDIT_KEEP_PER_ORIGINATOR) return
    mine.sort((a, b) => a.at - b.at)
    for (const { k } of mine.slice(0, mine.length - AUDIT_KEEP_PER_ORIGINATOR)) await sink.write(AUDIT_NAMESPACE, k, undefined, { deleted: true })
  } catch (err) {
    log.warn({ err, id: o.request.id }, 'command audit record not written')
  }
}

export { AUDIT_NAMESPACE, checkAuditEntry }
