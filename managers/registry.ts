/**
 * The one list of management roles. Each registers as `{ name, tunables,
 * create(ctx, tunables) }`: its name (what eligibility flags, the election
 * and the API use), its duty tunables per profile (beside its class, e.g.
 * network-manager.ts) and how to build it from what the roles component
 * holds. Its names are role-names.ts's `ROLE_NAMES` (what the agent config's
 * `roles` schema and the CLI use without loading the managers), checked equal
 * when this module loads; the roles component (index.ts) builds every role
 * from it. A new role is a class, its tunables, one entry here and its name
 * in role-names.ts.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { InvalidTunablesError, PROFILE_NAMES, type ProfileName, type Tunables } from '../lib/tunables.js'
import type { Health } from '../protocols/health/index.js'
import type { MembershipView } from '../protocols/membership/types.js'
import { rolesTunables, type RolesConfig } from './constants.js'
import { placementMetrics, regionMetrics, type RolesMetrics } from './metrics.js'
import type { DutyTunables, Emit, Role, State } from './role.js'
import { NetworkManager, networkTunables, type NetworkManagerInit, type TopologySink } from './network-manager.js'
import { PlacementDuty, type PlacementConfig } from './placement-duty.js'
import { UpdateManager, updateTunables } from './update-manager.js'
import { RolloutDuty, type ReleaseFacts } from './rollout/driver.js'
import { rolloutMetrics } from './rollout/metrics.js'
import { ConfigManager, configTunables, type ConfigManagerInit } from './config-manager.js'
import { SecurityManager, securityTunables, type SecurityManagerInit } from './security-manager.js'
import { MonitoringManager, monitoringTunables } from './monitoring-manager.js'
import { SecurityMonitor, type SecurityMonitorInit } from './security-monitor.js'
import { AlertingDuty } from './monitoring/alerting-duty.js'
import { alertingTunables } from './monitoring/alerting-tunables.js'
import { alertingMetrics } from './monitoring/alerting-metrics.js'
import { seriesStoreTunables } from './monitoring/series-store.js'
import { anomalyTunables } from './monitoring/anomaly.js'
import { deliveryMetrics } from './monitoring/delivery.js'
import { securityMetrics } from './security-metrics.js'
import { offenceThresholds, type OffenceThresholds } from './security-aggregate.js'
import type { Tracer } from '../wire/tracing.js'
import { ROLE_NAMES, type RoleName } from './role-names.js'

export { ROLE_NAMES, type RoleName }

/** What a role may be built from: the roles component's parts and the agent's adapters. */
export interface RoleContext {
  region: string
  /** Sends a fenced action for a role (actions.ts): events, e.g. a rollout's decisions. */
  emit: Emit
  /** Sends a role's periodic statement, when it changed or is due (actions.ts, role.ts `State`). */
  state: State
  metrics: RolesMetrics
  /** The roles component's logger with `role` bound. */
  logger: Logger
  registry?: Registry
  /** The events wake the placement duty when a member dies (optional: unit tests hand a static view). */
  membership: Pick<MembershipView, 'self' | 'members'> & Partial<Pick<MembershipView, 'addEventListener' | 'removeEventListener'>>
  health: Pick<Health, 'reports'>
  peers: NetworkManagerInit['peers']
  /** Replicated-config adapters, once the agent runs config-sync / critical config. */
  configSource?: ConfigManagerInit['source']
  admission?: SecurityManagerInit['admission']
  topologySink?: TopologySink
  /** Replicated config the network manager places deployments through; without it, no placement. */
  placementConfig?: () => PlacementConfig | undefined
  /** Oldest version the security manager accepts without flagging. */
  minVersion?: string
  /** What the update manager needs of a release's manifest (driver.ts); undefined when the release is unknown here. */
  releaseFacts?: (component: string, version: string) => ReleaseFacts | undefined
  /** Committed critical config, for the security manager's monitoring (settings, admission changes); undefined without a genesis. */
  critical?: SecurityMonitorInit['critical']
  /** The profile's offence thresholds (security-aggregate.ts); the lan profile's when absent. */
  offenceThresholds?: Readonly<OffenceThresholds>
  /** The timer profile, for duties whose tunables are not duty tunables (the monitoring manager's alerting); lan when absent. */
  profile?: ProfileName
  /** Where this node delivers the region's alerts while it holds the monitoring role (agent config). */
  alertTargets?: { alertmanagers: readonly string[], webhooks: readonly string[] }
  /** Spans of traced operations a role takes part in (a rollout's steps). */
  tracer?: Tracer
}

export interface RoleDefinition<N extends string, T extends DutyTunables> {
  readonly name: N
  readonly tunables: Tunables<T>
  readonly create: (ctx: RoleContext, tunables: Readonly<T>) => Role
}

/** Keeps each entry's name a literal, so `RoleName` is the union of them. */
function defineRole<const N extends RoleName, T extends DutyTunables> (d: RoleDefinition<N, T>): RoleDefinition<N, T> { return d }

/** Every management role, in the order the API lists them. */
export const ROLE_REGISTRY = [
  defineRole({
    name: 'network',
    tunables: networkTunables,
    create: (ctx, t) => new NetworkManager({
      region: ctx.region, state: ctx.state, metrics: ctx.metrics, logger: ctx.logger, intervalMs: t.intervalMs, membership: ctx.membership, peers: ctx.peers, sink: ctx.topologySink,
      placement: ctx.placementConfig === undefined
        ? undefined
        : new PlacementDuty({ region: ctx.region, config: ctx.placementConfig, membership: ctx.membership, health: ctx.health, logger: ctx.logger, metrics: placementMetrics(ctx.registry) })
    })
  }),
  defineRole({
    name: 'update',
    tunables: updateTunables,
    create: (ctx, t) => new UpdateManager({
      region: ctx.region, state: ctx.state, metrics: ctx.metrics, logger: ctx.logger, intervalMs: t.intervalMs, activeIntervalMs: t.activeIntervalMs,
      rollouts: ctx.placementConfig === undefined
        ? undefined
        : new RolloutDuty({
          region: ctx.region, config: ctx.placementConfig, membership: ctx.membership, health: ctx.health, releaseFacts: ctx.releaseFacts, emit: ctx.emit, logger: ctx.logger, metrics: rolloutMetrics(ctx.registry),
          ...(ctx.tracer !== undefined ? { tracer: ctx.tracer } : {})
        })
    })
  }),
  defineRole({
    name: 'config',
    tunables: configTunables,
    create: (ctx, t) => new ConfigManager({ region: ctx.region, state: ctx.state, metrics: ctx.metrics, logger: ctx.logger, intervalMs: t.intervalMs, source: ctx.configSource })
  }),
  defineRole({
    name: 'security',
    tunables: securityTunables,
    create: (ctx, t) => new SecurityManager({
      region: ctx.region, state: ctx.state, metrics: ctx.metrics, logger: ctx.logger, intervalMs: t.intervalMs, membership: ctx.membership, health: ctx.health, admission: ctx.admission, minVersion: ctx.minVersion,
      monitor: ctx.placementConfig === undefined
        ? undefined
        : new SecurityMonitor({
          region: ctx.region, config: ctx.placementConfig, critical: ctx.critical ?? (() => undefined), membership: ctx.membership, health: ctx.health,
          thresholds: ctx.offenceThresholds ?? offenceThresholds.defaults('lan'), findingsGauge: securityMetrics(ctx.registry).findings, logger: ctx.logger
        })
    })
  }),
  defineRole({
    name: 'monitoring',
    tunables: monitoringTunables,
    create: (ctx, t) => new MonitoringManager({
      region: ctx.region, state: ctx.state, metrics: ctx.metrics, logger: ctx.logger, intervalMs: t.intervalMs, health: ctx.health, regionMetrics: regionMetrics(ctx.registry),
      alerting: ctx.placementConfig === undefined
        ? undefined
        : new AlertingDuty({
          region: ctx.region,
          config: ctx.placementConfig,
          membership: ctx.membership,
          health: ctx.health,
          tunables: alertingTunables.defaults(ctx.profile ?? 'lan'),
          store: seriesStoreTunables.defaults(ctx.profile ?? 'lan'),
          anomaly: anomalyTunables.defaults(ctx.profile ?? 'lan'),
          targets: ctx.alertTargets ?? { alertmanagers: [], webhooks: [] },
          metrics: alertingMetrics(ctx.registry),
          deliveryMetrics: deliveryMetrics(ctx.registry),
          logger: ctx.logger
        })
    })
  })
] as const

// The entries are exactly the names, in order (`defineRole` already refuses a name not in the list).
if (ROLE_REGISTRY.map(d => d.name).join() !== ROLE_NAMES.join()) {
  throw new Error(`managers/registry.ts registers ${ROLE_REGISTRY.map(d => d.name).join()}, role-names.ts lists ${ROLE_NAMES.join()}`)
}

type TunablesOf<D> = D extends RoleDefinition<string, infer T> ? T : never
/** Overrides of each role's duty tunables, by role name (tests, benchmarks). */
export type RoleTunablesOverrides = { [D in typeof ROLE_REGISTRY[number] as D['name']]?: Partial<TunablesOf<D>> }

export interface ResolvedRoleTunables {
  /** The framework's own (constants.ts). */
  framework: Readonly<RolesConfig>
  /** Each role's duty tunables. */
  roles: Readonly<Record<RoleName, Readonly<DutyTunables>>>
}

/**
 * The framework's and every role's tunables for `profile` with overrides,
 * each validated by its own module, then the rule between them: every node
 * keeps a holder's latest output for reportTtlMs, and a holder publishes it
 * again every intervalMs. At least two intervals, so that one lost or late
 * output (a dropped gossip message, a slow duty run) does not drop a live
 * holder's output from the API.
 */
export function resolveRoleTunables (profile: ProfileName, framework?: Partial<RolesConfig>, overrides: RoleTunablesOverrides = {}): ResolvedRoleTunables {
  const fw = rolesTunables.create(profile, framework)
  const roles = Object.fromEntries(ROLE_REGISTRY.map(d => [d.name, d.tunables.create(profile, overrides[d.name])])) as Record<RoleName, Readonly<DutyTunables>>
  const broken = ROLE_NAMES.filter(name => fw.reportTtlMs < 2 * roles[name].intervalMs)
    .map(name => `${profile}: reportTtlMs (${fw.reportTtlMs}) must cover two of ${name}.intervalMs (${2 * roles[name].intervalMs}): one lost output must not drop a live holder's`)
  if (broken.length > 0) throw new InvalidTunablesError('roles', broken)
  return { framework: fw, roles: Object.freeze(roles) }
}

// Every profile's defaults keep the rule, checked once when this module loads.
for (const p of PROFILE_NAMES) resolveRoleTunables(p)
