/**
 * Publishes this node's signed health report on its region's topic at a low
 * rate, and keeps the latest verified report of every member it hears from.
 */
import { loadavg, totalmem, freemem, cpus } from 'node:os'
import { statfs } from 'node:fs/promises'
import { Gauge, Counter } from 'prom-client'
import type { CommonComponents } from '../../lib/components.js'
import type { Startable } from '../../lib/lifecycle.js'
import { VerifiedTopic, type PubSubHost } from '../../wire/topic.js'
import { decodeSignedReport, encodeSignedReport, checkOrigin, type ComponentReport, type HealthReport, type OffencesReport } from './report.js'
import { healthTopic, type HealthConfig } from './constants.js'

export type HealthComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'region' | 'dataDir' | 'logger' | 'registry'> & {
  /** The region's health topic. */
  pubsub: PubSubHost
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
}

export interface StoredReport {
  report: HealthReport
  receivedAt: number
}

export class Health implements Startable {
  private readonly latest = new Map<string, StoredReport>()
  private topic?: VerifiedTopic<HealthReport>
  private timer?: NodeJS.Timeout
  /** When the next report is due, Unix ms (the timer's deadline). */
  private dueAt = 0
  /** When the last report was made, Unix ms. */
  private lastAt = 0
  private readonly startedAt = Date.now()
  private readonly published: Counter
  private readonly known: Gauge

  constructor (private readonly init: HealthInit, private readonly components: HealthComponents) {
    const registers = [components.registry]
    this.published = new Counter({ name: 'mycel_health_reports_published_total', help: 'Health reports this node published', registers })
    this.known = new Gauge({ name: 'mycel_health_reports_known', help: 'Members whose latest health report is held', registers, collect: () => { this.known.set(this.latest.size) } })
  }

  async start (): Promise<void> {
    if (this.topic !== undefined) return
    const { pubsub, region, logger, registry } = this.components
    this.topic = new VerifiedTopic<HealthReport>({
      pubsub,
      topic: healthTopic(region),
      metricTopic: 'health',
      registry,
      logger,
      decode: async (data, from) => {
        const report = await decodeSignedReport(data, this.init.config.maxReportBytes)
        checkOrigin(report, from)
        if (report.issuedAt > Date.now() + this.init.config.maxFutureSkewMs) return undefined
        const prev = this.latest.get(report.peerId)
        // Replays and reordered reports never overwrite a newer one.
        if (prev !== undefined && prev.report.issuedAt >= report.issuedAt) return undefined
        return report
      },
      onMessage: (report) => { this.store(report) }
    })
    this.topic.start()
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
    this.topic?.stop()
    this.topic = undefined
  }

  /** Latest report per member, own included. */
  reports (): Array<StoredReport & { stale: boolean }> {
    const staleMs = this.init.config.publishIntervalMs * this.init.config.staleAfterIntervals
    const now = Date.now()
    return [...this.latest.values()].map(r => ({ ...r, stale: now - r.report.issuedAt > staleMs }))
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

  private store (report: HealthReport): void {
    const prev = this.latest.get(report.peerId)
    if (prev !== undefined && prev.report.issuedAt >= report.issuedAt) return
    this.latest.set(report.peerId, { report, receivedAt: Date.now() })
  }

  private async tick (): Promise<void> {
    if (this.topic === undefined) return
    const isMember = this.init.isMember
    if (isMember !== undefined) {
      for (const peerId of this.latest.keys()) {
        if (peerId !== this.components.peerId && !isMember(peerId)) this.latest.delete(peerId)
      }
    }
    this.dueAt = Infinity
    this.lastAt = Date.now()
    try {
      const report = await this.makeReport()
      this.store(report)
      await this.topic.publish(await encodeSignedReport(report, this.components.privateKey))
      this.published.inc()
    } catch (err) {
      this.components.logger.debug({ err }, 'health report publish failed')
    }
    // A publishSoon during this tick scheduled the next one already.
    if (this.topic !== undefined && this.dueAt === Infinity) this.schedule(this.init.config.publishIntervalMs)
  }
}

function offencesField (o: OffencesReport | undefined): { offences?: OffencesReport } {
  return o !== undefined && o.peers.length > 0 ? { offences: o } : {}
}

export function health (init: HealthInit): (components: HealthComponents) => Health {
  return (components) => new Health(init, components)
}
