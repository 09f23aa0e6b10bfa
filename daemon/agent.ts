/**
 * The composition root: one `Agent` per host. It reads top to bottom as a
 * parts list. Start order: identity → metrics → libp2p → membership →
 * health → (protocol components) → redial → admin API. Stop order is the
 * reverse, after a graceful leave has been announced while the network is
 * still up.
 */
import './polyfill.js'
import { writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { Registry, Counter, collectDefaultMetrics } from 'prom-client'
import type { Logger } from 'pino'
import { createNode, type MycelNode } from './node.js'
import { LIBP2P_PROFILES } from './profiles.js'
import { loadOrCreateIdentity, type Identity } from './identity.js'
import { ApiServer } from './api/server.js'
import { coreRoutes } from './api/core-routes.js'
import { isLoopbackHost, readNetworkKey, splitHostPort, type AgentConfig } from './config.js'
import { Redialer } from './redial.js'
import { ConnectionTrimmer } from './conn-trimmer.js'
import { VERSION } from './version.js'
import type { AgentComponents, Startable, ApiContributor } from './component.js'
import { membership as createMembership, membershipConfig } from '../protocols/membership/index.js'
import type { Membership } from '../protocols/membership/types.js'
import { health as createHealth, HEALTH_PROFILES, type Health } from '../protocols/health/index.js'
import { configService, configSyncConfig } from '../protocols/config-sync/index.js'
import { roles as createRoles, leaseDhtValidators, leaseDhtSelectors, testHooksEnabled, PartitionControl } from './roles/index.js'
import { criticalService, criticalAccessPolicy, loadGenesis, noGenesisRoutes, type CriticalService } from '../protocols/bft/index.js'
import { fileAccessPolicy } from '../crdt/namespaces.js'

/** Event-loop lag sampling period of the process metrics, ms. */
const EVENT_LOOP_SAMPLE_MS = 100

export interface AgentStatus {
  peerId: string
  api: string
  addrs: string[]
}

export class Agent {
  readonly startedAt = Date.now()
  identity!: Identity
  node!: MycelNode
  membership!: Membership
  health!: Health
  api!: ApiServer
  critical?: CriticalService
  readonly registry = new Registry()
  /** Protocol components started after membership/health, stopped before them (reverse order). */
  private readonly components: Array<Startable & Partial<ApiContributor> & { name: string }> = []
  private redialer?: Redialer
  private trimmer?: ConnectionTrimmer
  private readonly shutdown = new AbortController()
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new'

  constructor (readonly config: AgentConfig, readonly logger: Logger) {}

  async start (): Promise<AgentStatus> {
    if (this.state !== 'new') throw new Error(`agent cannot start from state ${this.state}`)
    this.state = 'starting'
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
    // Test-only partition control (test profile + MYCEL_TEST_HOOKS=1); see daemon/roles/test-hooks.ts.
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
      // Admission: a peer the genesis handshake refused gets no further
      // connections (late-bound: the critical service is built after
      // libp2p); test builds may also cut peers to simulate a partition.
      denyPeer: (peer) => (this.critical?.refuses(peer.toString()) ?? false) || (partition?.denies(peer) ?? false)
    })

    const components: AgentComponents = {
      node: this.node,
      peerId: this.identity.peerId,
      privateKey: this.identity.privateKey,
      region: cfg.region,
      dataDir: cfg.dataDir,
      logger: log,
      registry: this.registry,
      signal: this.shutdown.signal
    }

    // Membership (SWIM): who is alive. Everything else asks it.
    this.membership = createMembership({
      config: membershipConfig(cfg.profile),
      region: cfg.region,
      roles: cfg.roles,
      version: VERSION,
      dataDir: cfg.dataDir
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
    if (cfg.genesis !== undefined) {
      this.critical = criticalService({ genesis: await loadGenesis(cfg.genesis), profile: cfg.profile })({ ...components, membership: this.membership })
      this.add('critical', this.critical)
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
    this.add('config', config)

    // Roles: per-region management roles elected through the DHT (leases,
    // fencing); each role's loop runs only on its region's holder.
    this.add('roles', createRoles({
      profile: cfg.profile,
      eligible: cfg.roles,
      testHooks: partition !== undefined ? { partition } : undefined,
      configSource: () => config.readSource()
    })({ ...components, membership: this.membership, health: this.health }))

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
      isReady: () => this.isReady()
    }))
    for (const c of this.components) {
      if (c.routes !== undefined) this.api.add(...c.routes())
    }
    // Without a genesis the critical endpoints say so instead of "no such endpoint".
    if (this.critical === undefined) this.api.add(...noGenesisRoutes())

    await this.node.start()
    await this.membership.start()
    await this.health.start()
    for (const c of this.components) await c.start()

    // Redial: bootstrap peers until we know a live member.
    this.redialer = new Redialer({
      bootstrap: cfg.bootstrap,
      minBackoffMs: LIBP2P_PROFILES[cfg.profile].redialMinMs,
      maxBackoffMs: LIBP2P_PROFILES[cfg.profile].redialMaxMs,
      isJoined: () => this.membership.alivePeers().length > 0
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
    await writeFile(`${infoPath}.tmp`, JSON.stringify({ pid: process.pid, ...status }, null, 2) + '\n')
      .then(async () => { await rename(`${infoPath}.tmp`, infoPath) })
      .catch((err: unknown) => { log.warn({ err }, 'cannot write agent.json') })
    this.state = 'started'
    log.info({ ...status, region: cfg.region, profile: cfg.profile, version: VERSION }, 'mycel agent started')
    return status
  }

  /** Register a protocol component; call before start(). */
  add (name: string, component: Startable & Partial<ApiContributor>): void {
    this.components.push(Object.assign(component, { name }))
  }

  /** Ready once joined to at least one live member, or alone by design (no bootstrap peers). */
  isReady (): boolean {
    if (this.state !== 'started') return false
    return this.config.bootstrap.length === 0 || this.membership.alivePeers().length > 0
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
    for (const c of [...this.components].reverse()) await safeStop(c.name, c, log)
    await safeStop('health', this.health, log)
    await safeStop('membership', this.membership, log)
    await safeStop('libp2p', this.node, log)
    this.state = 'stopped'
    log.info('mycel agent stopped')
  }
}

async function safeStop (name: string, c: { stop: () => void | Promise<void> } | undefined, log: Logger): Promise<void> {
  try {
    await c?.stop()
  } catch (err) {
    log.warn({ err, component: name }, 'component stop failed')
  }
}
