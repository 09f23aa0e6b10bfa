/**
 * Admin API of commands (docs/commands.md):
 *  POST /v1/commands          {name, args?, regions?, nodes?, role?, timeoutMs?}: sign the
 *                             request as this node, fan it out, answer with every target's
 *                             result and the targets that did not answer. An HTTP
 *                             `traceparent` header is continued; otherwise a trace starts here.
 *  GET  /v1/commands/audit    the audit records in mycel.audit, newest first (?limit=N)
 */
import { z } from 'zod'
import type { Route } from '../router.js'
import { RequestError } from '../../../lib/errors.js'
import { firstIssue } from '../../../lib/zod-issue.js'
import { REGION_PATTERN } from '../../../lib/region.js'
import { ROLE_NAMES } from '../../../managers/registry.js'
import { COMMAND_NAME_PATTERN, MAX_ARGS, MAX_ARG_CHARS } from '../../../protocols/command/messages.js'
import type { CommandConfig, CommandService } from '../../../protocols/command/index.js'
import { AUDIT_NAMESPACE, COMMANDS_AUDIT_PREFIX, commandAuditSchema, type CommandAudit } from '../../../protocols/command/audit.js'
import { BUILTIN_COMMANDS } from '../../../policy/command-policy.js'

export interface CommandRoutesDeps {
  service: Pick<CommandService, 'run'>
  config: CommandConfig
  audit: { started: boolean, entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]> }
  /** Operator commands this node knows are declared (for the error naming what exists). */
  knownCommands: () => string[]
}

const DEFAULT_AUDIT_LIMIT = 50

export function commandRoutes (d: CommandRoutesDeps): Route[] {
  const bodySchema = z.strictObject({
    name: z.string().regex(COMMAND_NAME_PATTERN, 'command names are [a-z][a-z0-9-]{0,62}'),
    args: z.array(z.string().max(MAX_ARG_CHARS)).max(MAX_ARGS).default([]),
    regions: z.array(z.string().regex(REGION_PATTERN)).min(1).max(64).optional(),
    nodes: z.array(z.string().min(1).max(128)).min(1).max(1024).optional(),
    role: z.enum(ROLE_NAMES).optional(),
    timeoutMs: z.number().int().positive().max(d.config.maxTimeoutMs).optional()
  })
  return [
    {
      method: 'POST',
      path: '/v1/commands',
      handler: async (req) => {
        const r = bodySchema.safeParse(req.body ?? {})
        if (!r.success) throw new RequestError(400, `invalid command request: ${firstIssue(r.error)}`)
        const b = r.data
        const header = req.raw.headers.traceparent
        const o = await d.service.run({
          name: b.name,
          args: b.args,
          targets: { ...(b.regions !== undefined ? { regions: b.regions } : {}), ...(b.nodes !== undefined ? { nodes: b.nodes } : {}), ...(b.role !== undefined ? { role: b.role } : {}) },
          timeoutMs: b.timeoutMs ?? d.config.defaultTimeoutMs,
          ...(typeof header === 'string' ? { tc: header } : {})
        })
        return {
          json: {
            id: o.request.id,
            name: o.request.name,
            args: o.request.args,
            targets: o.request.targets,
            trace: o.request.tc,
            durationMs: Math.round(o.durationMs),
            expected: o.expected,
            missing: o.missing,
            results: o.answers.map(({ v: _v, ...a }) => a),
            builtin: (BUILTIN_COMMANDS as readonly string[]).includes(o.request.name),
            declared: d.knownCommands().includes(o.request.name)
          }
        }
      }
    },
    {
      method: 'GET',
      path: '/v1/commands/audit',
      handler: (req) => {
        if (!d.audit.started) throw new RequestError(503, 'replicated config is not running here')
        const limitText = req.query.get('limit')
        const limit = limitText === null ? DEFAULT_AUDIT_LIMIT : Number(limitText)
        if (!Number.isInteger(limit) || limit < 1) throw new RequestError(400, 'limit: expected a positive integer')
        const records: CommandAudit[] = []
        for (const [k, e] of d.audit.entries(AUDIT_NAMESPACE)) {
          if (!k.startsWith(COMMANDS_AUDIT_PREFIX)) continue
          const p = commandAuditSchema.safeParse(e.value)
          // A record counts only as written by its originator: any member may write the namespace, none in another's name.
          if (p.success && (e.writer === undefined || e.writer === p.data.from)) records.push(p.data)
        }
        records.sort((a, b) => b.issuedAt - a.issuedAt)
        return { json: { records: records.slice(0, limit), total: records.length } }
      }
    }
  ]
}
