/**
 * The composition root: one `Agent` per host. It reads top to bottom as a
 * parts list. Start order: identity → metrics → libp2p → membership →
 * health → (protocol components) → redial → admin API. Stop order is the
 * reverse, after a graceful leave has been announced while the network is
 * still up.
 */
import './polyfill.js'
import { readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { Registry, Counter, collectDefaultMetrics } from 'prom-client'
import type { Logger } from 'pino'
import { createNode, type MycelNode } from './node.js'
import { LIBP2P_PROFILES } from './profiles.js'
import { loadOrCreateIdentity, type Identity } from './identity.js'
import { ApiServer } from './api/server.js'
import { coreRoutes } from './api/core-routes.js'
import { splitHostPort, type AgentConfig } from './config.js'
import { ConfigError } from './errors.js'
import { Redialer } from './redial.js'
import { ConnectionTrimmer } from './conn-trimmer.js'
import { VERSION } from './version.js'
import type { AgentComponents, Startable, ApiContributor } from './component.js'
import { membership as createMembership, membershipConfig } from '../protocols/membership/index.js'
import type { Membership } from '../protocols/membership/types.js'
import { health as createHealth, HEALTH_PROFILES, type Health } from '../protocols/health/index.js'
import { configService, configSyncConfig } from '../protocols/config-sync/index.js'
import { roles as createRoles, leaseDhtValidators, leaseDhtSelectors, testHooksEnabled, PartitionControl } from './roles/index.js'
import { criticalService, criticalAccessPolicy, genesisHash, loadGenesis, type CriticalService } from '../protocols/bft/index.js'
import { admission, ADMISSION_PROFILES, type AdmissionService } from '../protocols/admission/index.js'
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
    // The genesis names the network this agent belongs to; admission needs it
    // before the first connection.
    const genesis = cfg.genesis !== undefined ? await loadGenesis(cfg.genesis) : undefined
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
      this.critical = criticalService({ genesis, profile: cfg.profile })(components)
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
      isReady: () => this.isReady(),
      joined: () => this.membership.alivePeers().length > 0,
      bootstrap: () => this.redialer?.status() ?? [],
      admission: () => admitted.status()
    }))
    for (const c of this.components) {
      if (c.routes !== undefined) this.api.add(...c.routes())
    }

    await this.node.start()
    await this.membership.start()
    await this.health.start()
    for (const c of this.components) await c.start()

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

async function readNetworkKey (path: string): Promise<Uint8Array> {
  try {
    const key = await readFile(path)
    if (!key.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
      throw new Error('not a libp2p PSK file (expected /key/swarm/psk/1.0.0/ header); create one with `mycel keygen --network-key FILE`')
    }
    return key
  } catch (err) {
    throw new ConfigError(`network key ${path}: ${(err as Error).message}`)
  }
}
