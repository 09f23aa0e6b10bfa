/**
 * Publishes this node's signed health report on its region's topic when it
 * changed and at a refresh period that grows with the region (cadence.ts),
 * keeps the latest verified report of every member it hears from, and on
 * start pulls the reports one region member holds (sync.ts).
 */
import { loadavg, totalmem, freemem, cpus } from 'node:os'
import { statfs } from 'node:fs/promises'
import { Gauge, Counter } from 'prom-client'
import type { CommonComponents } from '../../lib/components.js'
import type { Startable } from '../../lib/lifecycle.js'
import { VerifiedTopic, type PubSubHost } from '../../wire/topic.js'
import type { RpcHost } from '../../wire/rpc.js'
import { decodeSignedReport, encodeSignedReport, checkOrigin, type ComponentReport, type HealthReport, type OffencesReport } from './report.js'
import { healthTopic, type HealthConfig } from './constants.js'
import { refreshIntervalMs, significantKey, staleAfterMs } from './cadence.js'
import { HEALTH_SYNC_PROTOCOL, pullHealth, serveHealthSync } from './sync.js'

export type HealthComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'region' | 'dataDir' | 'logger' | 'registry'> & {
  /** The region's health topic. */
  pubsub: PubSubHost
  /** Streams for health sync; without it (unit tests) the node neither serves nor pulls. */
  rpc?: RpcHost
}

export interface HealthInit {
  config: HealthConfig
  version: string
  /** Current roles of this node (eligible or held), read at each report. */
  roles: () => string[]
  /** Extra named checks contributed by other components. */
  checks?: () => HealthReport['checks']
  /** This node's labels (agent config `labels`), as deployments' constraints see them. */
  labels?: Readonly<Record<string, string>>
  /** The component host's states, read at each report. */
  components?: () => ComponentReport[]
  /**
   * Whether a peer is still a member (not reaped). Reports of peers that are
   * not are dropped at each tick, so departed hosts leave /v1/health and the
   * region aggregates instead of lingering forever.
   */
  isMember?: (peerId: string) => boolean
  /** This node's worst offenders (lib/peer-offences.ts), read at each report; undefined or no peers: the field is left out. */
  offences?: () => OffencesReport | undefined
  /**
   * The other alive members of this node's region: their count sets the
   * refresh period (cadence.ts), and a starting node pulls the reports of one
   * of them (sync.ts). Without it the region counts as this node alone.
   */
  regionPeers?: () => string[]
  /**
   * Peers this node holds a connection to. A starting node pulls from a
   * region member among them when there is one: a random member would cost
   * a connection (TCP, Noise, yamux, identify: ≈ 55 ms of CPU on both ends)
   * that nothing else needs, on every join (docs/performance.md).
   */
  connected?: () => Iterable<string>
}

export interface StoredReport {
  report: HealthReport
  receivedAt: number
}

/** A report as received or published, with the signed bytes that carried it (served to syncing members). */
interface Held { report: HealthReport, raw: Uint8Array }

export class Health implements Startable {
  private readonly latest = new Map<string, StoredReport>()
  /** The signed bytes of the latest report per member, as its subject published them. */
  private readonly raw = new Map<string, Uint8Array>()
  private topic?: VerifiedTopic<Held>
  private timer?: NodeJS.Timeout
  /** When the next look at the report is due, Unix ms (the timer's deadline). */
  private dueAt = 0
  /** When the last report was made, Unix ms. */
  private lastAt = 0
  /** What the last published report said that readers act on, and when it went out (cadence.ts). */
  private lastKey: string | undefined
  private lastPublishedAt = 0
  /** The refresh period the last published report announced: the next one comes within it, whatever the region does. */
  private lastAnnouncedMs = 0
  /** The next report is published whatever changed (`publishSoon`). */
  private forced = false
  private syncTimer?: NodeJS.Timeout
  private syncAbort?: AbortController
  private synced = false
  private readonly startedAt = Date.now()
  private readonly published: Counter
  private readonly skipped: Counter
  private readonly syncs: Counter<'result'>
  private readonly known: Gauge

  constructor (private readonly init: HealthInit, private readonly components: HealthComponents) {
    const registers = [components.registry]
    this.published = new Counter({ name: 'mycel_health_reports_published_total', help: 'Health reports this node published', registers })
    this.skipped = new Counter({ name: 'mycel_health_reports_unchanged_total', help: 'Looks at this node\'s report that published nothing: nothing a reader acts on changed and no refresh was due', registers })
    this.syncs = new Counter({ name: 'mycel_health_syncs_total', help: 'Pulls of a region member\'s reports at start, by result (ok, failed)', labelNames: ['result'] as const, registers })
    this.known = new Gauge({ name: 'mycel_health_reports_known', help: 'Members whose latest health report is held', registers, collect: () => { this.known.set(this.latest.size) } })
  }

  async start (): Promise<void> {
    if (this.topic !== undefined) return
    const { pubsub, region, logger, registry } = this.components
    this.topic = new VerifiedTopic<Held>({
      pubsub,
      topic: healthTopic(region),
      metricTopic: 'health',
      registry,
      logger,
      decode: async (data, from) => {
        const held = await this.check(data)
        if (held !== undefined) checkOrigin(held.report, from)
        return held
      },
      onMessage: (held) => { this.store(held.report, held.raw) }
    })
    this.topic.start()
    const rpc = this.components.rpc
    if (rpc !== undefined) {
      // A stop does not wait for its unhandle: a start right after it must not find the old handler.
      await rpc.unhandle(HEALTH_SYNC_PROTOCOL).catch(() => {})
      await serveHealthSync({ rpc, held: () => [...this.raw.values()], timeoutMs: this.init.config.syncTimeoutMs, maxReportBytes: this.init.config.maxReportBytes, logger })
      this.syncAbort = new AbortController()
      this.scheduleSync(SYNC_FIRST_MS)
    }
    // Random stagger so a fleet started together does not publish in lockstep.
    const first = Math.floor(Math.random() * Math.min(this.init.config.publishIntervalMs, 1000))
    this.schedule(first)
  }

  /**
   * Publish the next report early, because something in it changed (a
   * component's state): at once, or `minPublishGapMs` after the last one.
   */
  publishSoon (): void {
    if (this.topic === undefined) return
    this.forced = true
    const at = Math.max(Date.now(), this.lastAt + this.init.config.minPublishGapMs)
    if (at < this.dueAt) this.schedule(at - Date.now())
  }

  private schedule (delayMs: number): void {
    clearTimeout(this.timer)
    this.dueAt = Date.now() + delayMs
    this.timer = setTimeout(() => { void this.tick() }, delayMs)
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    clearTimeout(this.syncTimer)
    this.syncTimer = undefined
    this.syncAbort?.abort()
    this.syncAbort = undefined
    if (this.topic !== undefined) void this.components.rpc?.unhandle(HEALTH_SYNC_PROTOCOL).catch(() => {})
    this.topic?.stop()
    this.topic = undefined
  }

  /** Latest report per member, own included; stale after its publisher's refresh periods (cadence.ts). */
  reports (): Array<StoredReport & { stale: boolean }> {
    const now = Date.now()
    return [...this.latest.values()].map(r => ({ ...r, stale: now - r.report.issuedAt > staleAfterMs(this.init.config, r.report) }))
  }

  /**
   * This node's refresh period, ms: stretched with the region's size only
   * once every alive region member it knows a report of reads `refreshMs`
   * (an older release calls a report stale after three base periods, so a
   * node keeps the base period while one may be listening: wire rule 3).
   */
  refreshMs (): number {
    const peers = this.init.regionPeers?.() ?? []
    for (const p of peers) {
      const r = this.latest.get(p)
      if (r !== undefined && r.report.refreshMs === undefined) return this.init.config.publishIntervalMs
    }
    return refreshIntervalMs(this.init.config, peers.length + 1)
  }

  /**
   * Check a signed report from the wire (gossip or sync) with one set of
   * rules: size, signature by its subject, clock skew, newer than the one
   * held. Throws a named wire error on a bad one; undefined: nothing new.
   */
  async check (data: Uint8Array): Promise<Held | undefined> {
    const report = await decodeSignedReport(data, this.init.config.maxReportBytes)
    if (report.issuedAt > Date.now() + this.init.config.maxFutureSkewMs) return undefined
    const prev = this.latest.get(report.peerId)
    // Replays and reordered reports never overwrite a newer one.
    if (prev !== undefined && prev.report.issuedAt >= report.issuedAt) return undefined
    return { report, raw: data.slice() }
  }

  /** Pull the reports `peer` holds (sync.ts); resolves with how many arrived and how many of them were new. */
  async syncFrom (peer: string, signal?: AbortSignal): Promise<{ frames: number, stored: number }> {
    const rpc = this.components.rpc
    if (rpc === undefined) return { frames: 0, stored: 0 }
    let stored = 0
    const { region, peerId: self } = this.components
    const frames = await pullHealth(rpc, peer, {
      timeoutMs: this.init.config.syncTimeoutMs,
      maxReportBytes: this.init.config.maxReportBytes,
      ...(signal !== undefined ? { signal } : {}),
      accept: async (raw) => {
        const held = await this.check(raw)
        // Ours is ours to say; another region's or a departed member's is not kept here.
        if (held === undefined || held.report.peerId === self || held.report.region !== region) return
        if (this.init.isMember !== undefined && !this.init.isMember(held.report.peerId)) return
        this.store(held.report, held.raw)
        stored++
      }
    })
    return { frames, stored }
  }

  private scheduleSync (delayMs: number): void {
    this.syncTimer = setTimeout(() => { void this.trySync(delayMs) }, delayMs)
    this.syncTimer.unref?.()
  }

  /**
   * Until one pull succeeds: from a random region member, one this node is
   * connected to when there is one, backing off from 1 s to the check period.
   */
  private async trySync (lastDelayMs: number): Promise<void> {
    const signal = this.syncAbort?.signal
    if (this.synced || signal === undefined || signal.aborted) return
    const members = this.init.regionPeers?.() ?? []
    const connected = new Set(this.init.connected?.() ?? [])
    const near = members.filter(p => connected.has(p))
    const peers = near.length > 0 ? near : members
    if (peers.length > 0) {
      const peer = peers[Math.floor(Math.random() * peers.length)]
      try {
        const { frames, stored } = await this.syncFrom(peer, signal)
        this.syncs.inc({ result: 'ok' })
        this.components.logger.debug({ peer, frames, stored }, 'health reports synced')
        // A peer that had nothing yet (it started with us) is asked again, or another one.
        if (frames > 0) {
          this.synced = true
          // Now connected to the region: let it hear our report too (it may have gone to nobody).
          this.publishSoon()
          return
        }
      } catch (err) {
        if (signal.aborted) return
        this.syncs.inc({ result: 'failed' })
        this.components.logger.debug({ err, peer }, 'health sync failed')
      }
    }
    this.scheduleSync(Math.min(lastDelayMs * 2, this.init.config.publishIntervalMs))
  }

  get (peerId: string): StoredReport | undefined { return this.latest.get(peerId) }

  async makeReport (): Promise<HealthReport> {
    const mem = process.memoryUsage()
    let diskFreeBytes = 0
    let diskTotalBytes: number | undefined
    try {
      const s = await statfs(this.components.dataDir)
      diskFreeBytes = s.bavail * s.bsize
      diskTotalBytes = s.blocks * s.bsize
    } catch { /* data dir on an fs without statfs: report 0 free, no total */ }
    return {
      v: 1,
      peerId: this.components.peerId,
      region: this.components.region,
      issuedAt: Date.now(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      version: this.init.version,
      roles: this.init.roles(),
      load: loadavg().map(x => Math.round(x * 100) / 100),
      cpus: cpus().length,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, totalBytes: totalmem(), freeBytes: freemem() },
      diskFreeBytes,
      ...(diskTotalBytes !== undefined && diskTotalBytes > 0 ? { diskTotalBytes } : {}),
      checks: this.init.checks?.() ?? [],
      ...(this.init.labels !== undefined && Object.keys(this.init.labels).length > 0 ? { labels: { ...this.init.labels } } : {}),
      ...(this.init.components !== undefined ? { components: this.init.components() } : {}),
      ...offencesField(this.init.offences?.())
    }
  }

  private store (report: HealthReport, raw?: Uint8Array): void {
    const prev = this.latest.get(report.peerId)
    if (prev !== undefined && prev.report.issuedAt >= report.issuedAt) return
    this.latest.set(report.peerId, { report, receivedAt: Date.now() })
    if (raw !== undefined) this.raw.set(report.peerId, raw)
  }

  private async tick (): Promise<void> {
    if (this.topic === undefined) return
    const isMember = this.init.isMember
    if (isMember !== undefined) {
      for (const peerId of this.latest.keys()) {
        if (peerId !== this.components.peerId && !isMember(peerId)) { this.latest.delete(peerId); this.raw.delete(peerId) }
      }
    }
    this.dueAt = Infinity
    const now = Date.now()
    this.lastAt = now
    try {
      const refreshMs = this.refreshMs()
      const report: HealthReport = { ...await this.makeReport(), refreshMs }
      const key = significantKey(report)
      // Nothing a reader acts on changed and the refresh is not due: our own
      // view takes the fresh gauges, the region hears nothing.
      if (!this.forced && key === this.lastKey && now - this.lastPublishedAt < Math.min(refreshMs, this.lastAnnouncedMs) - this.init.config.publishIntervalMs / 2) {
        this.store(report)
        this.skipped.inc()
      } else {
        this.forced = false
        const raw = await encodeSignedReport(report, this.components.privateKey)
        this.store(report, raw)
        // Sent to nobody (no region peer connected yet): not published, so the next look tries again.
        if (await this.topic.publish(raw) > 0) {
          this.lastKey = key
          this.lastPublishedAt = now
          this.lastAnnouncedMs = refreshMs
          this.published.inc()
        }
      }
    } catch (err) {
      this.components.logger.debug({ err }, 'health report publish failed')
    }
    // A publishSoon during this tick scheduled the next one already.
    if (this.topic !== undefined && this.dueAt === Infinity) this.schedule(this.init.config.publishIntervalMs)
  }
}

/** The first health sync is tried this long after start (membership has usually joined by then), ms. */
const SYNC_FIRST_MS = 1_000

function offencesField (o: OffencesReport | undefined): { offences?: OffencesReport } {
  return o !== undefined && o.peers.length > 0 ? { offences: o } : {}
}

export function health (init: HealthInit): (components: HealthComponents) => Health {
  return (components) => new Health(init, components)
}
