/**
 * The composition root: one `Agent` per host. It reads top to bottom as a
 * parts list. Start order: data dir lock → identity → metrics → libp2p →
 * membership → health → (protocol components) → redial → admin API. Stop
 * order is the reverse, after a graceful leave has been announced while the
 * network is still up; the lock is released last.
 *
 * Fail-stop: a protocol component whose durable state is corrupt (at start)
 * or cannot be persisted (at runtime) is stopped and recorded in `faults`;
 * the agent keeps running the rest, so membership and the admin API still
 * answer, and /readyz is 503 naming the component, the file and the
 * recovery step. The stopped component's routes answer 503 with the same.
 */
import './polyfill.js'
import { join } from 'node:path'
import { Registry, Counter, collectDefaultMetrics } from 'prom-client'
import type { Logger } from 'pino'
import { createNode, type MycelNode } from './node.js'
import { LIBP2P_PROFILES } from './profiles.js'
import { loadOrCreateIdentity, type Identity } from './identity.js'
import { ApiServer } from './api/server.js'
import { coreRoutes } from './api/routes/core.js'
import { configRoutes } from './api/routes/config.js'
import { criticalRoutes, noGenesisRoutes } from './api/routes/critical.js'
import { routesOfRoles } from './api/routes/roles.js'
import { testHooksEnabled, PartitionControl, staleActionRoute } from './test-hooks.js'
import { isLoopbackHost, readNetworkKey, splitHostPort, type AgentConfig } from './config.js'
import { Redialer } from './redial.js'
import { ConnectionTrimmer } from './conn-trimmer.js'
import { VERSION } from './version.js'
import type { Startable } from '../lib/lifecycle.js'
import { membership as createMembership, membershipConfig } from '../protocols/membership/index.js'
import type { Membership } from '../protocols/membership/types.js'
import { health as createHealth, HEALTH_PROFILES, type Health } from '../protocols/health/index.js'
import { configService, configSyncConfig } from '../protocols/config-sync/index.js'
import { roles as createRoles, leaseDhtValidators, leaseDhtSelectors } from '../managers/index.js'
import { criticalService, genesisHash, loadGenesis, type CriticalService } from '../protocols/bft/index.js'
import { criticalAccessPolicy } from '../policy/namespace-acl.js'
import { admission, ADMISSION_PROFILES, type AdmissionService } from '../protocols/admission/index.js'
import { fileAccessPolicy } from '../crdt/namespaces.js'
import { DirLock, LOCK_FILE } from '../lib/dir-lock.js'
import { writeFileDurable } from '../lib/durable-file.js'
import { isFailStop } from '../lib/errors.js'
import { FaultRegistry, type Fault } from '../lib/faults.js'
import type { Route } from './api/router.js'

/** Event-loop lag sampling period of the process metrics, ms. */
const EVENT_LOOP_SAMPLE_MS = 100

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

/** A part the agent starts and stops; its admin routes answer 503 while it is stopped on a fault. */
interface Component { name: string, part: Startable, routes?: () => Route[] }

export class Agent {
  readonly startedAt = Date.now()
  identity!: Identity
  node!: MycelNode
  membership!: Membership
  health!: Health
  api!: ApiServer
  critical?: CriticalService
  readonly registry = new Registry()
  /** Components stopped on their durable state (fail-stop). */
  readonly faults = new FaultRegistry()
  /** Protocol components started after membership/health, stopped before them (reverse order). */
  private readonly components: Component[] = []
  private lock?: DirLock
  private redialer?: Redialer
  private trimmer?: ConnectionTrimmer
  private readonly shutdown = new AbortController()
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new'

  constructor (readonly config: AgentConfig, readonly logger: Logger) {}

  async start (): Promise<AgentStatus> {
    if (this.state !== 'new') throw new Error(`agent cannot start from state ${this.state}`)
    this.state = 'starting'
    // Data dir lock: one agent per data dir, held for the process's life.
    // A second agent would share the identity and overwrite the logs.
    this.lock = await DirLock.acquire(this.config.dataDir)
    try {
      return await this.startLocked()
    } catch (err) {
      this.lock.release()
      throw err
    }
  }

  private async startLocked (): Promise<AgentStatus> {
    const cfg = this.config
    const log = this.logger

    // Identity: created on first start so `mycel agent` on a new data dir just works.
    this.identity = await loadOrCreateIdentity(cfg.dataDir)

    // Metrics: one registry per daemon; process metrics plus libp2p's and ours.
    // Event-loop lag sampled every 100 ms, not prom-client's 10 ms: the
    // 10 ms sampler alone cost an idle daemon ~0.4% of a core.
    collectDefaultMetrics({ register: this.registry, prefix: 'mycel_process_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })

    // libp2p: transports, encryption, muxing, gossipsub, DHT, optional PSK.
    const networkKey = cfg.networkKey !== undefined ? await readNetworkKey(cfg.networkKey) : undefined
    // The genesis names the network this agent belongs to; admission needs it
    // before the first connection.
    const genesis = cfg.genesis !== undefined ? await loadGenesis(cfg.genesis) : undefined
    // Test-only partition control (test profile + MYCEL_TEST_HOOKS=1); see daemon/test-hooks.ts.
    const partition = testHooksEnabled(cfg.profile) ? new PartitionControl() : undefined
    this.node = await createNode({
      privateKey: this.identity.privateKey,
      listen: cfg.listen,
      announce: cfg.announce,
      bootstrap: cfg.bootstrap,
      networkKey,
      profile: LIBP2P_PROFILES[cfg.profile],
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
        config: ADMISSION_PROFILES[cfg.profile],
        logger: log,
        registry: this.registry
      }),
      // Test builds may also cut peers to simulate a partition.
      denyPeer: partition !== undefined ? (peer) => partition.denies(peer) : undefined
    })
    const admitted = this.node.services.admission as AdmissionService

    // What every component is built from; each takes only the fields it
    // uses (its `XComponents` type). The libp2p node goes in as the small
    // network interfaces the components take: streams (wire/rpc.ts), peers
    // and connections (wire/peers.ts), gossip (wire/topic.ts) and the DHT.
    const components = {
      rpc: this.node,
      peers: this.node,
      pubsub: this.node.services.pubsub,
      dht: this.node.services.dht,
      peerId: this.identity.peerId,
      privateKey: this.identity.privateKey,
      region: cfg.region,
      dataDir: cfg.dataDir,
      logger: log,
      registry: this.registry,
      signal: this.shutdown.signal,
      faults: this.faults
    }

    // Membership (SWIM): who is alive. Everything else asks it.
    this.membership = createMembership({
      config: membershipConfig(cfg.profile),
      region: cfg.region,
      roles: cfg.roles,
      version: VERSION,
      dataDir: cfg.dataDir,
      admission: admitted
    })(components)

    // Health: signed per-region reports at a low rate.
    this.health = createHealth({
      config: HEALTH_PROFILES[cfg.profile],
      version: VERSION,
      roles: () => this.membership.self().roles,
      isMember: (peerId) => this.membership.get(peerId) !== undefined
    })(components)

    // COMPONENTS: protocol components, in start order. Each is built from
    // `components` and registered with `this.add(name, instance)`; its
    // routes() are served by the admin API and it stops in reverse order.

    // Critical config (BFT): only with --genesis. Certified blocks from the
    // validators, verified and applied on every node (docs/bft.md).
    if (genesis !== undefined) {
      this.critical = criticalService({ genesis, profile: cfg.profile })({ ...components, membership: this.membership })
      const critical = this.critical
      this.add('critical', critical, () => criticalRoutes(critical))
    }

    // Replicated config: signed Yjs envelopes in a durable log, gossiped and
    // repaired by anti-entropy with live members (docs/config.md).
    const config = configService({
      config: configSyncConfig(cfg.profile),
      namespaces: cfg.namespaces,
      // With a genesis, committed `acl/<namespace>` entries decide who may
      // write; the config file's rules apply only where none is committed.
      access: this.critical !== undefined ? criticalAccessPolicy(this.critical.config, fileAccessPolicy(cfg.namespaces)) : undefined
    })({ ...components, membership: this.membership })
    this.add('config', config, () => configRoutes(config))

    // Roles: per-region management roles elected through the DHT (leases,
    // fencing); each role's loop runs only on its region's holder.
    const roles = createRoles({
      profile: cfg.profile,
      eligible: cfg.roles,
      configSource: () => config.readSource()
    })({ ...components, membership: this.membership, health: this.health })
    this.add('roles', roles, () => {
      const routes = routesOfRoles(roles, { peerId: this.identity.peerId, region: cfg.region })
      if (partition !== undefined) {
        routes.push(...partition.routes(() => this.node, () => this.membership, log))
        routes.push(staleActionRoute(async (role, term) => await roles.actions.emitStale(role, 'stale-probe', { note: 'test hook: stale term' }, term)))
      }
      return routes
    })

    // Admin API: core routes plus every component's routes.
    const { host, port } = splitHostPort(cfg.api)
    this.api = new ApiServer({ host, port, logger: log })
    this.api.add(...coreRoutes({
      node: this.node,
      peerId: this.identity.peerId,
      region: cfg.region,
      version: VERSION,
      startedAt: this.startedAt,
      registry: this.registry,
      membership: this.membership,
      health: this.health,
      readiness: () => this.readiness(),
      faults: () => this.faults.list(),
      joined: () => this.membership.alivePeers().length > 0,
      bootstrap: () => this.redialer?.status() ?? [],
      admission: () => admitted.status()
    }))
    for (const c of this.components) {
      if (c.routes !== undefined) this.api.add(...c.routes().map(r => this.guarded(c.name, r)))
    }
    // Without a genesis the critical endpoints say so instead of "no such endpoint".
    if (this.critical === undefined) this.api.add(...noGenesisRoutes())

    await this.node.start()
    await this.membership.start()
    await this.health.start()
    // A component found at runtime to have lost its durable state is stopped.
    this.faults.onFault((f) => {
      log.error({ component: f.component, file: f.file, recovery: f.recovery, error: f.error }, 'component stopped on its durable state (fail-stop)')
      const c = this.components.find(x => x.name === f.component)
      if (c !== undefined && this.state === 'started') void safeStop(c.name, c.part, log)
    })
    for (const c of this.components) await this.startComponent(c)
    // A fault reported while later components were starting: stop that one too (stop is idempotent).
    for (const c of this.components) if (this.faults.get(c.name) !== undefined) await safeStop(c.name, c.part, log)

    // Redial: bootstrap peers until we know a live member.
    this.redialer = new Redialer({
      bootstrap: cfg.bootstrap,
      minBackoffMs: LIBP2P_PROFILES[cfg.profile].redialMinMs,
      maxBackoffMs: LIBP2P_PROFILES[cfg.profile].redialMaxMs,
      isJoined: () => this.membership.alivePeers().length > 0,
      admission: admitted,
      registry: this.registry
    }, this.node, log)
    this.redialer.start()
    // Connections other than membership's overlay are closed when idle and
    // too many: the network must not drift back to a full mesh.
    this.trimmer = new ConnectionTrimmer({
      ...LIBP2P_PROFILES[cfg.profile].trim,
      protect: () => this.membership.neighbours()
    }, {
      node: this.node,
      logger: log,
      trimmed: new Counter({ name: 'mycel_connections_trimmed_total', help: 'Idle connections closed because more peers than the high watermark were connected', registers: [this.registry] })
    })
    this.trimmer.start()

    await this.api.start()
    const apiAddr = this.api.address()
    // Allowed only with --api-insecure-remote (config.ts refuses it otherwise).
    if (!isLoopbackHost(host)) log.warn({ api: cfg.api }, 'admin API listens on a non-loopback address without authentication (--api-insecure-remote): whoever reaches it controls this agent')
    const status: AgentStatus = {
      peerId: this.identity.peerId,
      api: `${apiAddr.host}:${apiAddr.port}`,
      addrs: this.node.getMultiaddrs().map(a => a.toString())
    }
    // For the CLI and scripts on this host: where this data dir's agent listens.
    // Written atomically (rename) so a reader never sees half a file.
    const infoPath = join(cfg.dataDir, 'agent.json')
    await writeFileDurable(infoPath, JSON.stringify({ pid: process.pid, ...status }, null, 2) + '\n', 0o644)
      .catch((err: unknown) => { log.warn({ err }, 'cannot write agent.json') })
    this.state = 'started'
    log.info({ ...status, region: cfg.region, profile: cfg.profile, version: VERSION, stopped: this.faults.list().map(f => f.component) }, 'mycel agent started')
    return status
  }

  /**
   * Start one protocol component. Corrupt durable state (a fail-stop error)
   * stops that component and is recorded; any other error aborts the start.
   */
  private async startComponent (c: Component): Promise<void> {
    try {
      await c.part.start()
    } catch (err) {
      if (!isFailStop(err)) throw err
      this.faults.report(c.name, err)
    }
    if (this.faults.get(c.name) !== undefined) await safeStop(c.name, c.part, this.logger)
  }

  /** A stopped component's routes answer 503 with the fault instead of touching half-built state. */
  private guarded (name: string, route: Route): Route {
    return {
      ...route,
      handler: async (req) => {
        const f = this.faults.get(name)
        if (f === undefined) return await route.handler(req)
        return { status: 503, json: { error: faultLine(f), fault: f } }
      }
    }
  }

  /** Register a protocol component and its admin routes; call before start(). */
  add (name: string, part: Startable, routes?: () => Route[]): void {
    this.components.push({ name, part, routes })
  }

  /**
   * Ready once started with every component running, and joined to at least
   * one live member (or alone by design: no bootstrap peers).
   */
  readiness (): Readiness {
    const faults = this.faults.list()
    if (this.state !== 'started') return { ready: false, error: `agent is ${this.state}`, faults }
    if (faults.length > 0) return { ready: false, error: faults.map(faultLine).join('; '), faults }
    if (this.config.bootstrap.length > 0 && this.membership.alivePeers().length === 0) return { ready: false, error: 'not joined to any peer yet', faults }
    return { ready: true, faults }
  }

  /** Graceful: announce leave, stop components in reverse order, close libp2p. Safe to call twice. */
  async stop (opts: { leave?: boolean } = {}): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped' || this.state === 'new') return
    this.state = 'stopping'
    const log = this.logger
    this.shutdown.abort()
    if (opts.leave !== false) {
      await this.membership.leave(AbortSignal.timeout(3_000)).catch(err => log.warn({ err }, 'leave announcement failed'))
    }
    this.redialer?.stop()
    this.trimmer?.stop()
    await this.api?.stop().catch(() => {})
    for (const c of [...this.components].reverse()) await safeStop(c.name, c.part, log)
    await safeStop('health', this.health, log)
    await safeStop('membership', this.membership, log)
    await safeStop('libp2p', this.node, log)
    this.lock?.release()
    this.state = 'stopped'
    log.info('mycel agent stopped')
  }
}

/** One line for /readyz and the stopped component's routes: what, which file, what to do. */
export function faultLine (f: Fault): string {
  return `${f.component} stopped: ${f.error}${f.recovery !== undefined ? `; to recover: ${f.recovery}` : ''}`
}

export { LOCK_FILE }

async function safeStop (name: string, c: { stop: () => void | Promise<void> } | undefined, log: Logger): Promise<void> {
  try {
    await c?.stop()
  } catch (err) {
    log.warn({ err, component: name }, 'component stop failed')
  }
}
