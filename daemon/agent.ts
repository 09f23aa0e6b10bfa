/**
 * The composition root: one `Agent` per host. `start()` reads top to bottom
 * as its parts list: each part is built from what the parts before it
 * produced and started at once, through one lifecycle (lib/lifecycle.ts
 * `startPart`), in this order:
 *
 *   data dir (lock, then identity) → tracing → libp2p → membership → leave → health →
 *   protocol components (those given to add(), then logs, critical, config,
 *   artifacts, component host, roles) → handoff → commands → redial →
 *   connection trimmer → admin API → agent.json
 *
 * A part whose start fails stops every part started before it (itself
 * included), newest first, so the data dir lock is released last, and
 * start() rejects with a StartError naming the part. stop() runs the same
 * list backwards: first every part's beforeStop while all of them still run
 * (the leave part announces the graceful leave then, with the network up),
 * then every part's stop, then every afterStop. The admin API starts last so
 * it never serves a half-built agent, and stops first.
 *
 * Fail-stop: a protocol component whose durable state is corrupt (at start)
 * or cannot be persisted (at runtime) is stopped and recorded in `faults`;
 * the agent keeps running the rest, so membership and the admin API still
 * answer, and /readyz is 503 naming the component, the file and the
 * recovery step. The stopped component's routes answer 503 with the same.
 * That is not a failed start, so nothing is rolled back for it: each
 * component is wrapped in a FailStopPart (daemon/fail-stop.ts) that catches
 * fail-stop errors from its start; any other error rolls the start back.
 */
import './polyfill.js'
import { join } from 'node:path'
import { Registry, Counter } from 'prom-client'
import type { Logger } from 'pino'
import { createNode } from './node.js'
import { nodeDhtLocalRecords } from './dht-local-records.js'
import { libp2pTunables } from './profiles.js'
import { ApiServer } from './api/server.js'
import { TokenAuth } from './api/auth.js'
import { coreRoutes } from './api/routes/core.js'
import { configRoutes } from './api/routes/config.js'
import { artifactRoutes, componentRoutes, hostRoutes } from './api/routes/components.js'
import { archiveCollector, archiveHints, archiveSource, releaseSource } from './host-sources.js'
import { desiredSource } from '../managers/desired.js'
import { componentHost, HOST_COMPONENT, type ComponentHost } from '../host/component-host.js'
import { hostTunables } from '../host/constants.js'
import { chooseStrategy } from '../host/systemd-scope.js'
import { ArtifactFetcher } from '../protocols/artifacts/fetcher.js'
import type { ComponentReport } from '../protocols/health/report.js'
import { criticalRoutes, noGenesisRoutes } from './api/routes/critical.js'
import { routesOfRoles } from './api/routes/roles.js'
import { testHooksEnabled, PartitionControl, staleActionRoute } from './test-hooks.js'
import { isLoopbackHost, readNetworkKey, splitHostPort, type AgentConfig } from './config.js'
import { Redialer } from './redial.js'
import { ConnectionTrimmer } from './conn-trimmer.js'
import { INSTALL_ROOT, VERSION } from './version.js'
import { DataDir, gracefulLeave, infoFile } from './agent-parts.js'
import { FailStopPart, faultLine, guardedRoute } from './fail-stop.js'
import { membership as createMembership, membershipConfig } from '../protocols/membership/index.js'
import type { Membership } from '../protocols/membership/types.js'
import { health as createHealth, healthTunables } from '../protocols/health/index.js'
import { configService, configSyncConfig } from '../protocols/config-sync/index.js'
import { roles as createRoles, leaseDhtValidators, leaseDhtSelectors } from '../managers/index.js'
import { checkDeploymentEntry, DEPLOYMENTS_NAMESPACE } from '../managers/deployment.js'
import { checkPlacementEntry, PLACEMENTS_NAMESPACE } from '../managers/placement-namespace.js'
import { checkRolloutEntry, ROLLOUTS_NAMESPACE } from '../managers/rollout/record.js'
import { checkProgressEntry, ROLLOUT_PROGRESS_NAMESPACE } from '../managers/rollout/progress.js'
import { BFT_SYNC_PROTOCOL, criticalService, genesisHash, loadGenesis } from '../protocols/bft/index.js'
import { criticalAccessPolicy } from '../policy/namespace-acl.js'
import { POLICY_KEY_RULES } from '../policy/key-rules.js'
import { admissionAuthority } from '../policy/admission-authority.js'
import type { AdmissionPolicyView } from '../policy/admission-policy.js'
import { joinRedemption, wireAdmission } from './admission-wiring.js'
import { admissionRoutes } from './api/routes/admission.js'
import type { VersionVector } from '../crdt/version-vector.js'
import { cutoffOf, withRevocationCutoff } from '../policy/revocation-cutoff.js'
import { guardGossipOrigins } from '../wire/gossip-origin.js'
import { gossipCounter } from '../wire/topic.js'
import { wireOffences } from './security-wiring.js'
import { securityRoutes } from './api/routes/security.js'
import { alertsRoutes, anomaliesRoute } from './api/routes/alerts.js'
import { checkMonitoringEntry, MONITORING_NAMESPACE } from '../managers/monitoring/records.js'
import { checkSecurityEntry, SECURITY_NAMESPACE } from '../managers/security-records.js'
import { publisherTrust } from '../policy/publisher-trust.js'
import { ARTIFACTS_COMPONENT, artifactService } from '../protocols/artifacts/service.js'
import { artifactTunables } from '../protocols/artifacts/constants.js'
import { checkReleaseEntry, RELEASES_NAMESPACE } from '../protocols/artifacts/release-entry.js'
import { configReleaseLog } from '../protocols/artifacts/release-log.js'
import { admission, admissionTunables, type AdmissionService } from '../protocols/admission/index.js'
import { fileAccessPolicy } from '../crdt/namespaces.js'
import { deploymentRoutes } from './api/routes/deployments.js'
import { agentRolloutOperator, rolloutRoutes } from './api/routes/rollouts.js'
import { identityRoutes } from './api/routes/identity.js'
import { rotationRecovery } from './key-rotation.js'
import { Lifecycle, LifecycleStateError, type LifecycleState, type Startable } from '../lib/lifecycle.js'
import { FaultRegistry, type Fault } from '../lib/faults.js'
import type { Route } from './api/router.js'
import { collectProcessMetrics } from './process-metrics.js'
import { AgentTracing } from './tracing.js'
import { peerIdOf } from '../wire/peer-ids.js'
import { checkEmergencyEntry, EMERGENCY_NAMESPACE } from '../policy/emergency.js'
import { freezeSource, Handoff } from './control-wiring.js'
import { emergencyRoutes, withFreezeHold } from './api/routes/emergency.js'
import { agentLogs } from './logs-wiring.js'
import { AUDIT_NAMESPACE, checkAuditEntry, commandsPart } from './commands-wiring.js'
import { feedRoutingTable, KadDhtShapeError, routingTableOf } from './dht-membership.js'

export interface AgentStatus {
  peerId: string
  api: string
  addrs: string[]
}

export interface Readiness {
  ready: boolean
  /** Why not, one line. */
  error?: string
  /** Components stopped on their durable state (fail-stop). */
  faults: Fault[]
}

/** Membership events that may end or change a join: the bootstrap redial loop looks again on each. */
const REDIAL_EVENTS = ['member:join', 'member:alive', 'member:suspect', 'member:dead', 'member:left'] as const

/** How the agent was started. */
export interface AgentOptions {
  /**
   * Set when the launcher runs this agent (MYCEL_LAUNCHER=1): a core update
   * calls it to stop without a leave and exit with EXIT_SWITCH_CORE.
   * Absent: core updates are refused (host/core-update.ts).
   */
  switchCore?: () => void
  /** A condition the agent cannot run on was found after start (a refused join token): stop and exit with this one line. */
  fatal?: (message: string) => void
  /** Stop without a leave and start again with the same config (a key rotation swapped identity.key). Absent: the next start uses the new key. */
  restart?: () => void
  /** The config file the agent was started with (`--config`), re-read by the `config-reload` command. */
  configFile?: string
}

/** A protocol component given to add(); its admin routes answer 503 while it is stopped on a fault. */
interface Component { name: string, part: Startable, routes?: () => Route[] }

export class Agent {
  readonly startedAt = Date.now()
  readonly registry = new Registry()
  /** Components stopped on their durable state (fail-stop). */
  readonly faults = new FaultRegistry()
  /** Every part, in the start order of the header; stopped in reverse. */
  private readonly parts: Lifecycle
  /** Protocol components given to add(): started after health, before the agent's own. */
  private readonly added: Component[] = []
  private readonly shutdown = new AbortController()
  /** stop({ leave: false }) stops without announcing the leave. */
  private leaveOnStop = true

  constructor (readonly config: AgentConfig, readonly logger: Logger, private readonly opts: AgentOptions = {}) {
    this.parts = new Lifecycle({
      onStopError: (part, hook, err) => { logger.warn({ err, component: part, hook }, 'component stop failed') },
      onPart: (part, event) => { logger.debug({ part }, `${part} ${event}`) }
    })
    this.faults.onFault((f) => {
      logger.error({ component: f.component, file: f.file, recovery: f.recovery, error: f.error }, 'component stopped on its durable state (fail-stop)')
    })
  }

  /** Start every part in order; on a failure, stop the started ones and reject with a StartError naming the part. */
  async start (): Promise<AgentStatus> {
    if (this.parts.state !== 'new') throw new LifecycleStateError(`agent cannot start from state ${this.parts.state}`)
    const cfg = this.config
    const log = this.logger
    const parts = this.parts

    // Files the config names, read before any part starts (the CLI has
    // checked them already). The genesis names the network this agent
    // belongs to; admission needs it before the first connection.
    const networkKey = cfg.networkKey !== undefined ? await readNetworkKey(cfg.networkKey) : undefined
    const genesis = cfg.genesis !== undefined ? await loadGenesis(cfg.genesis) : undefined
    // Metrics: one registry per daemon; process metrics plus libp2p's and ours.
    collectProcessMetrics(this.registry)

    // Data dir: the lock, then the identity (and with apiAuth token the API token) read or created under it.
    const dataDir = await parts.startPart('data-dir', new DataDir(cfg.dataDir, { apiToken: cfg.apiAuth === 'token' }))
    const identity = dataDir.identity
    // Tracing: the Tracer every traced hop records its span with (daemon/tracing.ts); stopped late, so its OTLP queue is flushed after the last span.
    const { tracer } = await parts.startPart('tracing', new AgentTracing({ logger: log, node: identity.peerId.toString(), region: cfg.region, version: VERSION, profile: cfg.profile, ...(cfg.otlpEndpoint !== undefined ? { otlpEndpoint: cfg.otlpEndpoint } : {}) }))

    // libp2p: transports, encryption, muxing, gossipsub, DHT, optional PSK.
    // Test-only partition control (test profile + MYCEL_TEST_HOOKS=1); see daemon/test-hooks.ts.
    const partition = testHooksEnabled(cfg.profile) ? new PartitionControl() : undefined
    let policy: AdmissionPolicyView | undefined
    const node = await parts.startPart('libp2p', async () => await createNode({
      privateKey: identity.privateKey,
      listen: cfg.listen,
      announce: cfg.announce,
      networkKey,
      profile: libp2pTunables.defaults(cfg.profile),
      registry: this.registry,
      agentVersion: VERSION,
      // Role leases live in the DHT under /mycel/lease/<region>/<role>.
      dhtValidators: leaseDhtValidators,
      dhtSelectors: leaseDhtSelectors,
      // Admission: every connection first proves the same genesis (or none on
      // both sides); until then no other protocol exchanges a byte, and a
      // refused peer is denied by the connection gater (docs/architecture.md).
      admission: admission({
        network: genesis !== undefined ? { genesis: genesisHash(genesis), networkId: genesis.networkId } : undefined,
        // With a genesis, nobody is admitted before the committed admission policy is read (wireAdmission).
        policyRequired: genesis !== undefined,
        limitedProtocols: [BFT_SYNC_PROTOCOL],
        joinRedemption: joinRedemption(cfg.joinToken, identity.privateKey, identity.peerId.toString(), () => policy?.standing(identity.peerId.toString()) === 'admitted'),
        config: admissionTunables.defaults(cfg.profile),
        logger: log,
        registry: this.registry
      }),
      // Test builds may also cut peers to simulate a partition.
      denyPeer: partition !== undefined ? (peer) => partition.denies(peer) : undefined
    }))
    const admitted = node.services.admission as AdmissionService
    // Gossip whose signed origin the policy does not admit is dropped, whoever relays it (wire/gossip-origin.ts).
    const gossipDrops = gossipCounter(this.registry)
    guardGossipOrigins(node.services.pubsub, (origin) => policy !== undefined && policy.standing(origin) !== 'admitted',
      (topic) => { gossipDrops.inc({ topic: topic.split('/').slice(0, 2).join('/'), result: 'origin_refused' }) })
    // Offence counters: every gossip validator, protocol hook and admission refusal records here (docs/security.md).
    const offences = wireOffences({ profile: cfg.profile, registry: this.registry, admission: admitted })

    // What every component is built from; each takes only the fields it
    // uses (its `XComponents` type). The libp2p node goes in as the small
    // network interfaces the components take: streams (wire/rpc.ts), peers
    // and connections (wire/peers.ts), gossip (wire/topic.ts) and the DHT
    // (with its own record store, for leases nobody took: dht-local-records.ts).
    const components = {
      rpc: node,
      peers: node,
      pubsub: node.services.pubsub,
      dht: node.services.dht,
      dhtLocal: nodeDhtLocalRecords(node),
      peerId: identity.peerId,
      privateKey: identity.privateKey,
      region: cfg.region,
      dataDir: cfg.dataDir,
      logger: log,
      registry: this.registry,
      signal: this.shutdown.signal,
      faults: this.faults,
      tracer
    }

    // Membership (SWIM): who is alive. Everything else asks it.
    const membership = await parts.startPart('membership', () => createMembership({
      config: membershipConfig(cfg.profile),
      region: cfg.region,
      roles: cfg.roles,
      version: VERSION,
      dataDir: cfg.dataDir,
      admission: admitted
    })(components))
    // kad-dht's contact check asks membership from now on, instead of dialing strangers (daemon/member-ping.ts).
    node.services.ping.bind((id) => membership.get(id)?.state === 'alive')
    // kad-dht's routing table holds the alive members, instead of what its walks dial (daemon/dht-membership.ts).
    // Without it the DHT would run with neither walks nor members: refuse to start instead.
    const dhtTable = routingTableOf(node.services.dht)
    if (dhtTable === undefined) throw new KadDhtShapeError('kad-dht has no routing table with add and remove to feed (daemon/dht-membership.ts)')
    const dhtFeed = feedRoutingTable(dhtTable, membership, log)
    this.shutdown.signal.addEventListener('abort', () => { dhtFeed.stop() }, { once: true })
    // Leave: announced in beforeStop, while every part still runs.
    await parts.startPart('leave', gracefulLeave(membership, { announce: () => this.leaveOnStop, logger: log }))

    // Health: signed per-region reports when they change and at a refresh
    // period that grows with the region (protocols/health/cadence.ts), with
    // the component host's states (bound once the host runs; until then none).
    let hostReport: () => ComponentReport[] = () => []
    const health = await parts.startPart('health', () => createHealth({
      config: healthTunables.defaults(cfg.profile),
      version: VERSION,
      roles: () => membership.self().roles,
      labels: cfg.labels,
      components: () => hostReport(),
      isMember: (peerId) => membership.get(peerId) !== undefined,
      offences: offences.report,
      regionPeers: () => membership.members().filter(m => m.region === cfg.region && m.state === 'alive' && m.peerId !== identity.peerId).map(m => m.peerId),
      connected: () => node.getConnections().map(conn => conn.remotePeer.toString())
    })(components))

    // COMPONENTS: protocol components, in start order, each under the
    // fail-stop rule (daemon/fail-stop.ts). Their routes are served by the
    // admin API and answer 503 while the component is stopped on a fault.
    const routes: Route[] = []
    const component = async <T extends Startable>(name: string, build: () => T, routesOf?: (c: T) => Route[]): Promise<T> => {
      const c = (await parts.startPart(name, () => new FailStopPart(name, build(), this.faults, log))).component
      if (routesOf !== undefined) routes.push(...routesOf(c).map(r => guardedRoute(this.faults, name, r)))
      return c
    }
    for (const c of this.added) await component(c.name, () => c.part, c.routes)

    // Logs: this node's bounded log store (the agent's own lines and its components'), served to members
    // over /mycel/logs/1.0.0; GET /v1/logs fans a query out and merges by time (daemon/logs-wiring.ts, docs/logs.md).
    await component('logs', () => agentLogs({ profile: cfg.profile, logger: log, host: node, membership })(components), l => l.routes(cfg.region))

    // Critical config (BFT): only with --genesis. Certified blocks from the
    // validators, verified and applied on every node (docs/bft.md).
    const critical = genesis !== undefined
      ? await component('critical', () => criticalService({ genesis, profile: cfg.profile, keyRules: POLICY_KEY_RULES, authorities: [admissionAuthority] })({ ...components, membership }), c => criticalRoutes(c))
      : undefined

    // Admission policy: from here on every peer is judged by committed critical config (docs/security.md).
    policy = critical !== undefined
      ? wireAdmission({ critical, admission: admitted, self: identity.peerId.toString(), logger: log, ...(cfg.joinToken !== undefined && this.opts.fatal !== undefined ? { onTokenRefused: this.opts.fatal } : {}) })
      : undefined
    if (policy !== undefined) membership.attachPolicy(policy)

    // Publisher trust: with a genesis the committed `publishers` key decides
    // for every node; without one, this agent's config (policy/publisher-trust.ts).
    const publishers = publisherTrust({ critical: critical?.config, configured: cfg.publishers })
    if (critical !== undefined && cfg.publishers.length > 0) {
      log.warn({ publishers: cfg.publishers }, 'the config\'s publishers are ignored: this network has a genesis, so critical config key "publishers" decides (mycel critical propose publishers \'["<id>"]\')')
    }
    routes.push(...componentRoutes({ publishers }))

    // Replicated config: signed Yjs envelopes in a durable log, gossiped and
    // repaired by anti-entropy with live members (docs/config.md).
    const config = await component('config', () => configService({
      config: configSyncConfig(cfg.profile),
      namespaces: cfg.namespaces,
      // With a genesis, committed `acl/<namespace>` entries decide who may
      // write; the config file's rules apply only where none is committed.
      // A revoked writer's envelopes after its cut-off are refused (policy/revocation-cutoff.ts).
      access: critical !== undefined ? withRevocationCutoff(criticalAccessPolicy(critical.config, fileAccessPolicy(cfg.namespaces)), () => policy) : undefined,
      // Namespaces this release defines: every node checks their values with
      // the same code the writer ran (managers/deployment.ts, placement-namespace.ts,
      // rollout/record.ts, rollout/progress.ts, protocols/artifacts/release-entry.ts).
      builtins: {
        [DEPLOYMENTS_NAMESPACE]: checkDeploymentEntry,
        [PLACEMENTS_NAMESPACE]: checkPlacementEntry,
        [ROLLOUTS_NAMESPACE]: checkRolloutEntry,
        [ROLLOUT_PROGRESS_NAMESPACE]: checkProgressEntry,
        [RELEASES_NAMESPACE]: checkReleaseEntry,
        [SECURITY_NAMESPACE]: checkSecurityEntry,
        [MONITORING_NAMESPACE]: checkMonitoringEntry,
        [EMERGENCY_NAMESPACE]: checkEmergencyEntry,
        [AUDIT_NAMESPACE]: checkAuditEntry
      }
    })({ ...components, membership }), c => [
      ...configRoutes(c), ...deploymentRoutes(c), ...securityRoutes(c),
      ...alertsRoutes({ config: c, memberState: (p) => membership.get(p)?.state })
    ])
    if (critical !== undefined && policy !== undefined) {
      routes.push(...admissionRoutes({
        self: identity.peerId.toString(),
        key: identity.privateKey,
        critical,
        policy,
        admission: admitted,
        writerHeads: (peer) => cutoffOf(config.status().versionVector as VersionVector, peer),
        members: () => membership.members()
      }).map(r => guardedRoute(this.faults, 'critical', r)))
    }

    // Key rotation (docs/security.md): the admin route, and the decision on a next key an interrupted rotation left.
    routes.push(...identityRoutes({ dataDir: cfg.dataDir, identity, critical, versionVector: () => config.status().versionVector as VersionVector, restart: this.opts.restart, logger: log }).map(r => guardedRoute(this.faults, 'config', r)))
    if (critical !== undefined) await parts.startPart('rotation', () => rotationRecovery({ dataDir: cfg.dataDir, identity, committed: (k) => critical.state.get(k)?.value ?? undefined, onCommit: (fn) => { critical.state.addEventListener('commit', fn); return () => { critical.state.removeEventListener('commit', fn) } }, restart: this.opts.restart, logger: log }))

    // Artifacts: the component manifests this node knows (durable, under
    // <dataDir>/artifacts) and their archives as blocks, served to peers;
    // `mycel component publish` enters a release here, and every node learns
    // it through replicated config, mycel.releases (docs/components.md).
    const artifactConfig = artifactTunables.defaults(cfg.profile)
    const artifacts = await component(ARTIFACTS_COMPONENT, () => artifactService({
      config: artifactConfig,
      publishers,
      releases: configReleaseLog(config, identity.peerId)
    })(components), a => artifactRoutes(a))

    // Component host: runs here what the deployments (and the network
    // manager's placements) want here: fetch → verify → unpack → switch →
    // supervise; components outlive an agent restart and are re-adopted.
    const deploymentEntries = (): Array<[string, { value: unknown }]> | undefined => config.readSource()?.entries(DEPLOYMENTS_NAMESPACE)
    // What this node should run: system deployments of its region and the placements naming it (managers/desired.ts).
    const desired = desiredSource({ node: { peerId: identity.peerId, region: cfg.region, labels: cfg.labels }, config: () => config.started ? config : undefined, registry: this.registry })
    const collectArchives = archiveCollector({
      artifacts,
      deployments: deploymentEntries,
      rollouts: () => { const src = config.readSource(); return src === undefined ? undefined : { rollouts: src.entries(ROLLOUTS_NAMESPACE), progress: src.entries(ROLLOUT_PROGRESS_NAMESPACE) } },
      inUse: () => hostedRef?.archivesInUse(),
      logger: log
    })
    let hostedRef: ComponentHost | undefined
    const euid = process.geteuid?.()
    const strategy = chooseStrategy(process.env, euid)
    const hosted = await component(HOST_COMPONENT, () => componentHost({
      tunables: hostTunables.defaults(cfg.profile),
      desired: desired.desired,
      releases: releaseSource(artifacts),
      archives: archiveSource(new ArtifactFetcher(
        { peerId: identity.peerId, logger: log, signal: this.shutdown.signal, host: node, routing: node.services.dht },
        { config: artifactConfig, store: artifacts.blocks, metrics: artifacts.metrics }), artifacts,
        archiveHints({ self: identity.peerId, releases: () => artifacts.list(), releaseEntries: () => config.readSource()?.entries(RELEASES_NAMESPACE), reports: () => health.reports() })),
      env: { MYCEL_NODE_ID: identity.peerId, MYCEL_REGION: cfg.region },
      user: cfg.componentUser ?? (euid === 0 ? 'nobody' : undefined),
      strategy,
      onChange: () => { health.publishSoon() },
      onSettled: () => { void collectArchives() },
      // mycel's own core: a desired release of it goes to the launcher (docs/core-update.md).
      core: { version: VERSION, startedAt: this.startedAt, nodeModules: join(INSTALL_ROOT, 'node_modules'), ...(this.opts.switchCore !== undefined ? { switchCore: this.opts.switchCore } : {}) }
    })(components), h => hostRoutes({ host: h, health, self: identity.peerId, region: cfg.region, memberState: (id) => membership.get(id)?.state }))
    hostedRef = hosted
    hostReport = () => hosted.report()
    // Rollouts: start (every check before anything is written), status and controls over mycel.rollouts (docs/rollouts.md).
    // Emergency freeze records (docs/minimal-core.md): critical config with a genesis, else mycel.emergency.
    const freezes = freezeSource({ critical, config, logger: log })
    // A rollout a freeze holds says so (`held`).
    routes.push(...rolloutRoutes(withFreezeHold(agentRolloutOperator({ config, artifacts, routing: node.services.dht, membership, health, host: hosted, self: identity.peerId, labels: cfg.labels, logger: log, tracer }), freezes.records)).map(r => guardedRoute(this.faults, 'config', r)))
    log.info({ strategy: strategy.strategy }, strategy.reason)
    // A change of the deployments makes the host converge again (cheap when nothing changed for it).
    await parts.startPart('host-watch', () => {
      let unwatch = (): void => {}
      return {
        start: () => {
          const offDesired = desired.onChange(() => { hosted.reconcile() })
          // A release learned (mycel.releases) may be what a failed install waits for.
          const offReleases = config.started
            ? config.onChange((e) => { if (e.ns === RELEASES_NAMESPACE) void artifacts.settled().then(() => { hosted.retryNow() }, () => {}) })
            : () => {}
          unwatch = () => { offDesired(); offReleases() }
        },
        stop: () => { unwatch() }
      }
    })

    // Roles: per-region management roles elected through the DHT (leases,
    // fencing); each role's loop runs only on its region's holder, and only
    // once the minimal core has handed control over (gated; the handoff part below).
    const roles = await component('roles', () => createRoles({
      profile: cfg.profile,
      gated: true,
      tracer,
      eligible: cfg.roles,
      // With bootstrap peers the node is joining until it meets one, not a one-node cluster.
      joins: cfg.bootstrap.length > 0,
      configSource: () => config.readSource(),
      // The network manager places counted deployments, and the update manager
      // drives rollouts, through replicated config.
      placementConfig: () => config.started ? config : undefined,
      // The security manager reads the committed `security` setting and audits admission changes.
      critical: () => critical?.config,
      // The monitoring manager delivers the region's alerts here while this node holds the role.
      alertTargets: { alertmanagers: cfg.alertmanagers, webhooks: cfg.alertWebhooks },
      // The rollout gate judges a component without a health check by its running state;
      // a region's update manager checks its nodes against the release's requires.
      releaseFacts: (name, version) => {
        try {
          const m = artifacts.release(name, version).manifest
          return { healthCheck: m.health !== undefined, ...(m.requires !== undefined ? { requires: m.requires } : {}) }
        } catch { return undefined }
      }
    })({ ...components, membership, health }), (roles) => {
      const rs = [...routesOfRoles(roles, { peerId: identity.peerId, region: cfg.region }), anomaliesRoute(roles.actions, roles.duties.reportTtlMs)]
      if (partition !== undefined) {
        rs.push(...partition.routes(() => node, () => membership, log))
        rs.push(staleActionRoute(async (role, term) => await roles.actions.emitStale(role, 'stale-probe', { note: 'test hook: stale term' }, term)))
      }
      return rs
    })

    // Handoff: control of the duties goes to the management services once the
    // minimal core is ready, and back on a fault or an emergency freeze (docs/minimal-core.md).
    await parts.startPart('handoff', () => new Handoff({
      profile: cfg.profile,
      control: roles.control,
      source: freezes,
      lifecycle: () => parts.state,
      faults: this.faults,
      needsPeer: cfg.bootstrap.length > 0,
      membership,
      config,
      critical,
      peerIdOf
    }))
    routes.push(...emergencyRoutes({ control: roles.control, source: freezes, critical, config, tracer })
      .map(r => guardedRoute(this.faults, critical !== undefined ? 'critical' : 'config', r)))
    // Commands: signed fan-out requests that every target authorises and runs
    // itself, answered straight to the originator, audited in mycel.audit (docs/commands.md).
    const commands = commandsPart({
      profile: cfg.profile,
      config: cfg,
      ...(this.opts.configFile !== undefined ? { configFile: this.opts.configFile } : {}),
      version: VERSION,
      startedAt: this.startedAt,
      membership,
      ...(critical !== undefined ? { critical: critical.config } : {}),
      roles: () => roles,
      audit: config,
      restartComponent: async (name) => { await hosted.restart(name) },
      collectArchives,
      releases: () => artifacts.list().length,
      faults: () => this.faults.list(),
      registry: this.registry,
      logger: log,
      tracer
    }, components)
    await component('commands', () => commands.service, () => commands.routes())

    // Redial: bootstrap peers until we know a live member.
    const redialer = await parts.startPart('redial', () => new Redialer({
      bootstrap: cfg.bootstrap,
      minBackoffMs: libp2pTunables.defaults(cfg.profile).redialMinMs,
      maxBackoffMs: libp2pTunables.defaults(cfg.profile).redialMaxMs,
      staggerMs: libp2pTunables.defaults(cfg.profile).bootstrapStaggerMs,
      lookGapMs: libp2pTunables.defaults(cfg.profile).redialLookGapMs,
      isJoined: () => membership.alivePeers().length > 0,
      isMember: (peer) => { const state = membership.get(peer)?.state; return state === 'alive' || state === 'suspect' },
      onChange: (wake) => {
        for (const ev of REDIAL_EVENTS) membership.addEventListener(ev, wake)
        return () => { for (const ev of REDIAL_EVENTS) membership.removeEventListener(ev, wake) }
      },
      admission: admitted,
      registry: this.registry
    }, node, log))
    // Connections other than membership's overlay are closed when idle and
    // too many: the network must not drift back to a full mesh.
    await parts.startPart('trimmer', () => new ConnectionTrimmer({
      ...libp2pTunables.defaults(cfg.profile).trim,
      protect: () => membership.neighbours()
    }, {
      node,
      logger: log,
      trimmed: new Counter({ name: 'mycel_connections_trimmed_total', help: 'Idle connections closed because more peers than the high watermark were connected', registers: [this.registry] })
    }))

    // Admin API: core routes plus every component's routes; last, so it never serves a half-built agent.
    // With apiAuth token every request but the probes needs the data dir's token (daemon/api/auth.ts).
    const { host, port } = splitHostPort(cfg.api)
    const auth = dataDir.apiToken !== undefined ? new TokenAuth({ token: dataDir.apiToken, logger: log, registry: this.registry }) : undefined
    const api = await parts.startPart('api', () => {
      const server = new ApiServer({ host, port, logger: log, auth })
      server.add(...coreRoutes({
        node,
        peerId: identity.peerId,
        region: cfg.region,
        version: VERSION,
        startedAt: this.startedAt,
        registry: this.registry,
        membership,
        health,
        readiness: () => readiness(parts.state, this.faults.list(), cfg.bootstrap.length > 0, membership),
        faults: () => this.faults.list(),
        joined: () => membership.alivePeers().length > 0,
        bootstrap: () => redialer.status(),
        control: () => roles.control.status(),
        admission: () => ({ ...admitted.status(), ...(policy !== undefined ? { ...policy.list(), self: { peerId: identity.peerId.toString(), standing: policy.standing(identity.peerId.toString()) } } : {}) })
      }))
      server.add(...routes)
      // Without a genesis the critical endpoints say so instead of "no such endpoint".
      if (critical === undefined) server.add(...noGenesisRoutes())
      return server
    })
    const apiAddr = api.address()
    // Off loopback only with apiAuth token (config.ts); the token still travels in clear text.
    if (!isLoopbackHost(host)) log.warn({ api: cfg.api }, 'admin API listens on a non-loopback address over plain HTTP: its bearer token crosses the network readable; keep it on a private network or behind a TLS proxy')
    const status: AgentStatus = {
      peerId: identity.peerId,
      api: `${apiAddr.host}:${apiAddr.port}`,
      addrs: node.getMultiaddrs().map(a => a.toString())
    }
    // agent.json: where this data dir's agent listens, for the CLI and scripts on this host.
    await parts.startPart('info', infoFile(join(cfg.dataDir, 'agent.json'), { pid: process.pid, ...status }, log))

    await parts.finishStart()
    log.info({ ...status, region: cfg.region, profile: cfg.profile, apiAuth: cfg.apiAuth, version: VERSION, stopped: this.faults.list().map(f => f.component) }, 'mycel agent started')
    return status
  }

  /** Register a protocol component and its admin routes; call before start(). */
  add (name: string, part: Startable, routes?: () => Route[]): void {
    if (this.parts.state !== 'new') throw new LifecycleStateError(`cannot add ${name}: the agent is ${this.parts.state}`)
    this.added.push({ name, part, routes })
  }

  /**
   * Graceful: every part's beforeStop while all still run (the leave is
   * announced unless `leave: false`), then every part stops in reverse
   * order; the data dir lock is released last. Safe to call twice.
   */
  async stop (opts: { leave?: boolean } = {}): Promise<void> {
    const state = this.parts.state
    if (state !== 'starting' && state !== 'started') return
    this.leaveOnStop = opts.leave !== false
    this.shutdown.abort()
    await this.parts.stop()
    this.logger.info('mycel agent stopped')
  }
}

/**
 * Ready once started with every component running, and joined to at least
 * one live member (or alone by design: no bootstrap peers).
 */
function readiness (state: LifecycleState, faults: Fault[], needsPeer: boolean, membership: Membership): Readiness {
  if (state !== 'started') return { ready: false, error: `agent is ${state}`, faults }
  if (faults.length > 0) return { ready: false, error: faults.map(faultLine).join('; '), faults }
  if (needsPeer && membership.alivePeers().length === 0) return { ready: false, error: 'not joined to any peer yet', faults }
  return { ready: true, faults }
}
