/**
 * Configuration manager, first duty: re-validate the region's config
 * namespaces (`<region>` and `<region>.*`) against the namespace rules and
 * report violations as a fenced action. Receivers already refuse invalid
 * writes; this catches what the rules reject only later (a schema or limit
 * tightened through critical config under values stored before) and writers
 * whose access was revoked.
 *
 * The source is this node's replicated config store (the agent passes the
 * config-sync component's `readSource()`). A roles component built without
 * one (unit tests) reports `source: "unavailable"` (see docs/roles.md)
 * instead of pretending all is fine.
 */
import type { Logger } from 'pino'
import { dutyLoop, dutyTunables, type Role, type State } from './role.js'
import type { RolesMetrics } from './metrics.js'

/** Full re-validation period, per profile (rules can change under stored values). */
export const configTunables = dutyTunables('config', {
  lan: { intervalMs: 30_000 },
  wan: { intervalMs: 60_000 },
  test: { intervalMs: 2_000 }
})

/** The slice of the config store (crdt Replica + compiled NamespaceRules) this role reads. */
export interface RegionConfigSource {
  namespaces: () => string[]
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
  /** Throws (SchemaViolationError, LimitExceededError, ...) when the value may not be stored. */
  checkValue: (ns: string, key: string, value: unknown) => void
  maxKeys: (ns: string) => number
  canWrite?: (ns: string, writer: string) => boolean
}

export interface Violation { namespace: string, key?: string, writer?: string, reason: string, message: string }

export interface ConfigReport {
  region: string
  at: number
  source: 'store' | 'unavailable'
  namespaces: number
  entries: number
  violations: Violation[]
  truncated: boolean
}

const MAX_VIOLATIONS = 200

export function isRegionNamespace (region: string, ns: string): boolean {
  return ns === region || ns.startsWith(`${region}.`)
}

export function validateRegionConfig (region: string, source: RegionConfigSource | undefined, now = Date.now()): ConfigReport {
  if (source === undefined) return { region, at: now, source: 'unavailable', namespaces: 0, entries: 0, violations: [], truncated: false }
  const violations: Violation[] = []
  let truncated = false
  const add = (v: Violation): void => { if (violations.length < MAX_VIOLATIONS) violations.push(v); else truncated = true }
  let entriesSeen = 0
  const namespaces = source.namespaces().filter(ns => isRegionNamespace(region, ns))
  for (const ns of namespaces) {
    const entries = source.entries(ns)
    entriesSeen += entries.length
    const max = source.maxKeys(ns)
    if (entries.length > max) add({ namespace: ns, reason: 'too_many_keys', message: `${entries.length} keys, limit ${max}` })
    for (const [key, { value, writer }] of entries) {
      try {
        source.checkValue(ns, key, value)
      } catch (err) {
        add({ namespace: ns, key, writer, reason: (err as Error).name, message: (err as Error).message.slice(0, 300) })
      }
      if (writer !== undefined && source.canWrite !== undefined && !source.canWrite(ns, writer)) {
        add({ namespace: ns, key, writer, reason: 'writer_not_allowed', message: `${writer} may no longer write ${ns}` })
      }
    }
  }
  return { region, at: now, source: 'store', namespaces: namespaces.length, entries: entriesSeen, violations, truncated }
}

export interface ConfigManagerInit {
  region: string
  intervalMs: number
  source?: () => RegionConfigSource | undefined
  /** Periodic statements (role.ts `State`). */
  state: State
  logger: Logger
  metrics: RolesMetrics
}

export class ConfigManager implements Role {
  readonly name = 'config' as const
  private last?: ConfigReport
  private warned = false

  constructor (private readonly init: ConfigManagerInit) {}

  onElected (_term: number, signal: AbortSignal): void {
    dutyLoop(signal, this.init.intervalMs, async () => {
      const source = this.init.source?.()
      if (source === undefined && !this.warned) {
        this.warned = true
        this.init.logger.warn('configuration manager: no config store wired into this agent; reporting source=unavailable')
      }
      const report = validateRegionConfig(this.init.region, source)
      if (signal.aborted) return
      this.last = report
      if (report.violations.length > 0) this.init.logger.warn({ violations: report.violations.length }, 'config violations in region')
      await this.init.state('config', 'config-violations', report)
    }, (err) => { this.init.metrics.dutyErrors.inc({ role: 'config' }); this.init.logger.warn({ err }, 'config validation failed') })
  }

  onDemoted (): void {}

  status (): unknown {
    return this.last === undefined ? undefined : { at: this.last.at, source: this.last.source, violations: this.last.violations.length }
  }
}
