/**
 * Admin API of rollouts (docs/rollouts.md "Starting and controlling a
 * rollout"), thin over managers/rollout/operator.ts:
 *
 *   POST /v1/rollouts                 body {component, version, regions?, canary?, maxParallel?: {count}|{percent},
 *                                     minHealthyTimeMs?, healthyDeadlineMs?, progressDeadlineMs?, maxUnavailable?,
 *                                     autoRevert?} → 201 {id, rollout, unchecked}
 *   GET  /v1/rollouts[?component=C]   {rollouts: [view]}, newest first
 *   GET  /v1/rollouts/:id             view (managers/rollout/view.ts); 404 if absent
 *   POST /v1/rollouts/:id/pause|resume|abort|rollback|promote
 *                                     {id, verb, previous, rollout: view}; 409 naming the state when it does not apply
 *
 * A start is traced (docs/tracing.md): it continues the caller's
 * `traceparent` header, the record carries the trace, and the answer names
 * it (`trace` in the JSON, `traceresponse` and `x-trace-id` headers).
 *
 * Refusals are the named errors of managers/rollout/errors.ts (and the
 * artifact service's for a release), answered with their status and one
 * line as every route does; a refused start has written nothing.
 */
import type { Logger } from 'pino'
import { RequestError } from '../../../lib/errors.js'
import type { Route } from '../router.js'
import { componentName } from '../../../protocols/artifacts/manifest.js'
import type { ArtifactService } from '../../../protocols/artifacts/service.js'
import type { ProviderRouting } from '../../../protocols/artifacts/routing.js'
import type { ComponentReport, HealthReport } from '../../../protocols/health/report.js'
import type { MembershipView } from '../../../protocols/membership/types.js'
import { CONTROL_VERBS } from '../../../managers/rollout/control.js'
import { RolloutOperator, type RolloutConfig } from '../../../managers/rollout/operator.js'
import { archiveProbe } from '../../../managers/rollout/reachability.js'
import type { NetworkFacts, ReportFacts } from '../../../managers/rollout/targets.js'
import type { Tracer } from '../../../wire/tracing.js'
import { callerTraceparent, traceHeaders } from '../trace-header.js'

export function rolloutRoutes (op: Pick<RolloutOperator, 'start' | 'list' | 'get' | 'control'>): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/rollouts',
      handler: async (req) => {
        const body = req.body
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          throw new RequestError(400, 'body must be a JSON object {"component": "web", "version": "1.2.0", ...knobs}')
        }
        const { trace, ...started } = await op.start(body, req.signal, callerTraceparent(req))
        return { status: 201, json: { ...started, ...(trace !== undefined ? { trace: trace.traceId } : {}) }, headers: traceHeaders(trace) }
      }
    },
    {
      method: 'GET',
      path: '/v1/rollouts',
      handler: (req) => {
        const component = req.query.get('component') ?? undefined
        if (component !== undefined && !componentName.safeParse(component).success) {
          throw new RequestError(400, `component=${JSON.stringify(component.slice(0, 80))} is not a component name`)
        }
        return { json: { rollouts: op.list(component) } }
      }
    },
    {
      method: 'GET',
      path: '/v1/rollouts/:id',
      handler: (req) => ({ json: op.get(req.params.id as string) })
    },
    ...CONTROL_VERBS.map((verb): Route => ({
      method: 'POST',
      path: `/v1/rollouts/:id/${verb}`,
      handler: async (req) => ({ json: await op.control(req.params.id as string, verb) })
    }))
  ]
}

/** What the agent hands the operator: its parts, read at each request. */
export interface AgentRolloutParts {
  config: RolloutConfig
  artifacts: Pick<ArtifactService, 'release' | 'blocks'>
  routing: Pick<ProviderRouting, 'findProviders'>
  membership: Pick<MembershipView, 'members'>
  health: { reports: () => Array<{ report: HealthReport, stale: boolean }> }
  /** This node's component host: its own components, live. */
  host: { report: () => ComponentReport[] }
  self: string
  /** This node's labels (agent config). */
  labels: Readonly<Record<string, string>>
  logger: Logger
  tracer?: Tracer
}

/** The operator over the agent's parts. */
export function agentRolloutOperator (p: AgentRolloutParts): RolloutOperator {
  return new RolloutOperator({
    config: p.config,
    release: (name, version) => p.artifacts.release(name, version).manifest,
    probe: archiveProbe({ self: p.self, blocks: p.artifacts.blocks, routing: p.routing }),
    network: () => networkFacts(p),
    logger: p.logger,
    ...(p.tracer !== undefined ? { tracer: p.tracer } : {})
  })
}

/** Membership and the health reports held here, with this node's own components live from its host. */
export function networkFacts (p: Pick<AgentRolloutParts, 'membership' | 'health' | 'host' | 'self' | 'labels'>): NetworkFacts {
  const reports = new Map<string, ReportFacts>()
  for (const { report, stale } of p.health.reports()) {
    reports.set(report.peerId, {
      version: report.version,
      stale,
      ...(report.labels !== undefined ? { labels: report.labels } : {}),
      ...(report.components !== undefined ? { components: report.components } : {})
    })
  }
  // This node's own components as its host has them now, not as its last report said.
  const own = reports.get(p.self)
  const self = p.membership.members().find(m => m.peerId === p.self)
  reports.set(p.self, { version: own?.version ?? self?.version ?? '', labels: p.labels, stale: false, components: p.host.report() })
  return {
    members: p.membership.members().map(m => ({ peerId: m.peerId, region: m.region, state: m.state, version: m.version })),
    reports
  }
}
