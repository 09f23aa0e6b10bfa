/**
 * Shared by the config-sync service tests: the config service over an
 * in-memory network (test/helpers/memory-host.ts: real stream objects,
 * flooding gossip, no sockets), with a scripted membership in place of SWIM.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'
import type { Member } from '../../../protocols/membership/types.js'
import { configService, configSyncConfig, type ConfigService, type ConfigSyncConfig } from '../../../protocols/config-sync/index.js'
import { identity } from '../../crdt/fixtures.js'
import type { Tracer } from '../../../wire/tracing.js'

/** Membership whose alive set the test decides. */
export class ScriptedMembership extends EventTarget {
  alive = new Set<string>()
  constructor (readonly selfId: string) { super() }
  self (): Member { return this.member(this.selfId) }
  members (): Member[] { return [...this.alive].map(p => this.member(p)) }
  get (p: string): Member | undefined { return this.alive.has(p) ? this.member(p) : undefined }
  alivePeers (): Member[] { return this.members() }
  /** Members this node probes (its ring subjects); undefined: every alive member (the tests' small networks are one ring). */
  probes: Set<string> | undefined
  subjects (): string[] { return [...(this.probes ?? this.alive)] }
  randomAlive (n: number, filter?: (m: Member) => boolean): Member[] {
    return this.members().filter(m => filter === undefined || filter(m)).sort(() => Math.random() - 0.5).slice(0, n)
  }
  join (p: string): void { this.alive.add(p); this.dispatchEvent(new CustomEvent('member:join', { detail: this.member(p) })) }
  member (peerId: string): Member { return { peerId, state: 'alive', incarnation: 0, region: 'r', roles: [], addrs: [], version: 't', lastSeen: Date.now() } }
  updateSelf (): void {}
  async leave (): Promise<void> {}
  start (): void {}
  stop (): void {}
}

export interface TestAgent { host: MemoryHost, svc: ConfigService, membership: ScriptedMembership, peerId: string, dir: string, registry: Registry }

export async function until (cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

const logger = pino({ level: 'silent' })
/** The agents of this file's tests; a stopped agent's id may start again (a restart). */
const network = new MemoryNetwork()

export async function startAgent (n: number, namespaces?: unknown, dir?: string, overrides: Partial<ConfigSyncConfig> = {}, extra: { tracer?: Tracer } = {}): Promise<TestAgent> {
  const id = await identity(n)
  const host = network.host(id.peerId)
  const membership = new ScriptedMembership(id.peerId)
  const registry = new Registry()
  dir = dir ?? mkdtempSync(join(tmpdir(), 'mycel-cfgsvc-'))
  const svc = configService({ config: configSyncConfig('test', { antiEntropyIntervalMs: 60_000, ...overrides }), namespaces: namespaces as never })({
    rpc: host, pubsub: host.pubsub, peerId: id.peerId, privateKey: id.privateKey, dataDir: dir, logger, registry, membership, ...extra
  })
  await svc.start()
  return { host, svc, membership, peerId: id.peerId, dir, registry }
}

export async function connect (agents: TestAgent[]): Promise<void> {
  for (const a of agents) {
    for (const b of agents) {
      if (a === b) continue
      if (a.peerId < b.peerId) a.host.connect(b.host)
      a.membership.alive.add(b.peerId)
    }
  }
}

export async function stopAgent (a: TestAgent, keepDir = false): Promise<void> {
  await a.svc.stop()
  await a.svc.stop()
  a.host.stop()
  if (!keepDir) rmSync(a.dir, { recursive: true, force: true })
}
