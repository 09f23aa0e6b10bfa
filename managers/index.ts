/**
 * The roles component: election engine + fencing + role framework + the
 * management roles of the registry (registry.ts), each built from its entry
 * with its duty tunables. Built by the composition root, which also serves its
 * admin routes (daemon/api/routes/roles.ts):
 *
 *   const roles = createRoles({ profile, eligible: cfg.roles, ... })({ ...components, membership, health })
 *   agent.add('roles', roles)
 *
 * Start: fencing state → election → action topic → role framework.
 * Stop (reverse): the election demotes (roles stop first) and releases every
 * held lease so successors take over without waiting for the lapse; then the
 * topics close and the fencing state is flushed.
 */
import type { Health } from '../protocols/health/index.js'
import type { MembershipView } from '../protocols/membership/types.js'
import {
  ElectionEngine, electionTunables, FencingStore, Libp2pLeaseTransport, electionMetrics, type DhtHost, type DhtLocalRecords, type ElectionConfig, type LeaseTransport
} from '../protocols/election/index.js'
import type { CommonComponents } from '../lib/components.js'
import type { Startable } from '../lib/lifecycle.js'
import type { RpcHost } from '../wire/rpc.js'
import type { PubSubHost } from '../wire/topic.js'
import type { PeerHost } from '../wire/peers.js'
import type { ProfileName } from '../lib/tunables.js'
import type { RolesConfig } from './constants.js'
import { ROLE_NAMES, ROLE_REGISTRY, resolveRoleTunables, type RoleContext, type RoleName, type RoleTunablesOverrides } from './registry.js'
import { rolesMetrics } from './metrics.js'
import { offenceThresholds } from './security-aggregate.js'
import { RoleManager } from './manager.js'
import { FencedActions } from './actions.js'
import type { TopologySink } from './network-manager.js'
import type { RegionConfigSource } from './config-manager.js'
import type { AdmissionPolicy } from './security-manager.js'
import type { Emit, State } from './role.js'
import type { PlacementConfig } from './placement-duty.js'
import type { ReleaseFacts } from './rollout/driver.js'
import type { Tracer } from '../wire/tracing.js'
import { ControlState } from './control-state.js'

export { ROLE_NAMES, ROLE_REGISTRY, type RoleName } from './registry.js'
export { leaseDhtValidators, leaseDhtSelectors } from '../protocols/election/index.js'

export interface RolesInit {
  profile: ProfileName
  /** Roles this node may hold (config `roles`, flag `--roles`). */
  eligible: readonly string[]
  /** Told to join others (bootstrap peers): claim nothing before meeting one (election.ts `joins`). */
  joins?: boolean
  /** Overrides of the profile's election tunables. */
  election?: Partial<ElectionConfig>
  /** Overrides of the framework's tunables (constants.ts). */
  duties?: Partial<RolesConfig>
  /** Overrides of each role's duty tunables, by role name (registry.ts). */
  roleTunables?: RoleTunablesOverrides
  /** Replicated-config adapters, once the agent runs config-sync / critical config. */
  configSource?: () => RegionConfigSource | undefined
  admission?: () => AdmissionPolicy | undefined
  topologySink?: TopologySink
  /**
   * Replicated config for the network manager's placement duty: read
   * deployments and records, write records (the agent passes its config
   * service while it runs). Without it the network manager places nothing.
   */
  placementConfig?: () => PlacementConfig | undefined
  /** Oldest version the security manager accepts without flagging. */
  minVersion?: string
  /** What the update manager needs of a release's manifest (rollout/driver.ts). */
  releaseFacts?: (component: string, version: string) => ReleaseFacts | undefined
  /** Committed critical config (with a genesis): the security manager's settings and admission audit. */
  critical?: RoleContext['critical']
  /** Where this node delivers the region's alerts while it holds the monitoring role (agent config). */
  alertTargets?: RoleContext['alertTargets']
  /**
   * True: no duty acts until the minimal core hands control over (`control`
   * fed by daemon/control-wiring.ts), and none while frozen. Absent: control
   * starts with the services (tests and in-process uses without an agent).
   */
  gated?: boolean
  /** Records the `applied` span of a freeze or thaw record, traced role actions and a rollout's steps (docs/tracing.md). */
  tracer?: Tracer
}

export type RolesComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'region' | 'dataDir' | 'logger' | 'registry' | 'faults'> & {
  /** The region's action topic, and the lease topic of the libp2p lease transport. */
  pubsub: PubSubHost
  /** Who the network manager's holder is connected to. */
  peers: Pick<PeerHost, 'getConnections'>
  membership: Pick<MembershipView, 'self' | 'members' | 'addEventListener' | 'removeEventListener' | 'lastContact'>
  health: Pick<Health, 'reports'>
} & (
  /**
   * Leases over libp2p: gossip on `pubsub`, lease records in the DHT, whose
   * own store `dhtLocal` reaches, and lease sync at start over `rpc`.
   */
  { dht: DhtHost, dhtLocal: DhtLocalRecords, rpc?: Pick<RpcHost, 'handle' | 'unhandle' | 'dialProtocol'>, transport?: undefined } |
  /** Unit tests inject an in-memory transport. */
  { transport: LeaseTransport, dht?: undefined }
)

export class Roles implements Startable {
  readonly election: ElectionEngine
  readonly fencing: FencingStore
  readonly manager: RoleManager
  readonly actions: FencedActions
  /** Who has control of the duties: the minimal core, the services, or nobody (frozen); control-state.ts. */
  readonly control: ControlState
  /** The election tunables in force (profile plus overrides). */
  readonly config: ElectionConfig
  /** The framework's tunables in force. */
  readonly duties: Readonly<RolesConfig>
  private started = false

  constructor (readonly init: RolesInit, private readonly c: RolesComponents) {
    this.config = electionTunables.create(init.profile, init.election)
    const tunables = resolveRoleTunables(init.profile, init.duties, init.roleTunables)
    this.duties = tunables.framework
    const logger = c.logger.child({ component: 'roles' })
    // The holderless gauge reads the engine at scrape time (assigned below, before anything can scrape).
    const emetrics = electionMetrics(c.registry, { holderless: () => this.election.holderless() })
    const metrics = rolesMetrics(c.registry)
    // A fencing state that cannot be persisted stops the roles (fail-stop): the agent stops this component.
    this.fencing = new FencingStore({ dataDir: c.dataDir, logger, onFail: (err) => { c.faults?.report('roles', err) } })
    const eligible = init.eligible.filter((r): r is RoleName => (ROLE_NAMES as readonly string[]).includes(r))
    this.election = new ElectionEngine({ config: this.config, eligible, roles: ROLE_NAMES, joins: init.joins === true }, {
      peerId: c.peerId,
      privateKey: c.privateKey,
      region: c.region,
      logger: logger.child({ part: 'election' }),
      membership: c.membership,
      transport: c.transport === undefined ? new Libp2pLeaseTransport({ pubsub: c.pubsub, dht: c.dht, local: c.dhtLocal, ...(c.rpc !== undefined ? { rpc: c.rpc } : {}), logger, registry: c.registry, metrics: emetrics }) : c.transport,
      fencing: this.fencing,
      metrics: emetrics,
      connected: () => c.peers.getConnections().map(conn => conn.remotePeer.toString())
    })
    this.control = new ControlState({ region: c.region, logger, registry: c.registry, tracer: init.tracer, initial: init.gated === true ? 'core' : 'services' })
    const dispatch = (action: Parameters<RoleManager['dispatch']>[0], body: unknown): void => { this.manager.dispatch(action, body) }
    this.actions = new FencedActions({ statements: this.duties, pubsub: c.pubsub, peerId: c.peerId, privateKey: c.privateKey, region: c.region, logger, registry: c.registry, fencing: this.fencing, election: this.election, metrics, dispatch, mayAct: () => this.control.state === 'services', ...(init.tracer !== undefined ? { tracer: init.tracer } : {}) })
    const emit: Emit = async (role, kind, body, parent) => await this.actions.emit(role, kind, body, parent)
    const state: State = async (role, kind, body) => await this.actions.state(role, kind, body)
    const ctx: Omit<RoleContext, 'logger'> = {
      region: c.region,
      emit,
      state,
      metrics,
      registry: c.registry,
      membership: c.membership,
      health: c.health,
      peers: c.peers,
      configSource: init.configSource,
      admission: init.admission,
      topologySink: init.topologySink,
      placementConfig: init.placementConfig,
      minVersion: init.minVersion,
      releaseFacts: init.releaseFacts,
      critical: init.critical,
      offenceThresholds: offenceThresholds.defaults(init.profile),
      profile: init.profile,
      alertTargets: init.alertTargets,
      ...(init.tracer !== undefined ? { tracer: init.tracer } : {})
    }
    // Each entry's tunables were made by that entry's own `tunables` (resolveRoleTunables); TypeScript
    // cannot correlate the union of entries with the record's values, hence the cast.
    const roles = ROLE_REGISTRY.map(d => d.create({ ...ctx, logger: logger.child({ role: d.name }) }, tunables.roles[d.name] as never))
    this.manager = new RoleManager(roles, this.election, metrics, logger, { gateOpen: this.control.state === 'services' })
    // Elections and leases keep running whoever has control; only the duties stop (docs/minimal-core.md).
    this.control.addEventListener('control:change', (e) => {
      const d = (e as CustomEvent<{ to: string }>).detail
      this.manager.setGate(d.to === 'services', d.to)
    })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.fencing.load()
    this.manager.start()
    this.actions.start()
    this.election.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.election.stop()
    this.manager.stop()
    this.actions.stop()
    await this.fencing.flush()
  }
}

export function roles (init: RolesInit): (components: RolesComponents) => Roles {
  return (components) => new Roles(init, components)
}
