/**
 * Small fakes for the operator side of rollouts: an in-memory replicated
 * config that counts writes, a network of two regions (eu: this node's,
 * with reports; us: membership only), releases by version, and record
 * builders.
 */
import { DEPLOYMENTS_NAMESPACE } from '../../../managers/deployment.js'
import { ROLLOUTS_NAMESPACE, parseRollout, type Rollout } from '../../../managers/rollout/record.js'
import { parseProgress, progressKey, ROLLOUT_PROGRESS_NAMESPACE, type RegionProgress } from '../../../managers/rollout/progress.js'
import type { RolloutConfig } from '../../../managers/rollout/operator.js'
import type { StartRelease } from '../../../managers/rollout/start.js'
import type { NetworkFacts, ReportFacts } from '../../../managers/rollout/targets.js'
import { UnknownReleaseError, UntrustedPublisherError } from '../../../protocols/artifacts/errors.js'
import type { ComponentReport } from '../../../protocols/health/report.js'

export const EU = ['eu-1', 'eu-2', 'eu-3']
export const US = ['us-1', 'us-2']

/** An archive CID (any valid one: the probe fakes do not read it). */
export const CID_TEXT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

export function component (name: string, version: string, over: Partial<ComponentReport> = {}): ComponentReport {
  return { name, version, state: 'running', restarts: 0, health: 'passing', since: 1, ...over }
}

/** eu nodes report web 1.0.0 on mycel 0.5.0; us nodes are known by membership (mycel 0.5.0) only. */
export function network (over: { reports?: Map<string, ReportFacts>, members?: NetworkFacts['members'] } = {}): NetworkFacts {
  const reports = over.reports ?? new Map(EU.map(p => [p, { version: '0.5.0', labels: {}, components: [component('web', '1.0.0')] }]))
  const members = over.members ?? [
    ...EU.map(p => ({ peerId: p, region: 'eu', state: 'alive' as const, version: '0.5.0' })),
    ...US.map(p => ({ peerId: p, region: 'us', state: 'alive' as const, version: '0.5.0' }))
  ]
  return { members, reports }
}

/** Releases by version; `untrusted` ones throw as the artifact service does. */
export function releases (known: Record<string, StartRelease>, untrusted: string[] = []): (name: string, version: string) => StartRelease {
  return (name, version) => {
    if (untrusted.includes(version)) throw new UntrustedPublisherError(`${name}@${version}: publisher p is not trusted`)
    const r = known[version]
    if (r === undefined) throw new UnknownReleaseError(`${name}@${version} is not known on this node`)
    return r
  }
}

export function release (requires?: Record<string, string>): StartRelease {
  return { archive: { cid: CID_TEXT, size: 10 }, ...(requires !== undefined ? { requires } : {}) }
}

export function rollout (over: Record<string, unknown> = {}): Rollout {
  return parseRollout({ id: 'web-2.0.0-aaaaaa', component: 'web', from: '1.0.0', to: '2.0.0', regions: ['eu'], maxParallel: { count: 1 }, createdAt: 10, control: { state: 'running', at: 10 }, ...over })
}

export function progress (over: Record<string, unknown> = {}): RegionProgress {
  return parseProgress({ id: 'web-2.0.0-aaaaaa', region: 'eu', term: 1, state: 'running', startedAt: 10, lastProgressAt: 10, waves: [{ nodes: ['eu-1'], state: 'pending' }], ...over })
}

/** In-memory replicated config: entries by namespace, every write recorded. */
export class MemoryConfig implements RolloutConfig {
  readonly data = new Map<string, Map<string, { value: unknown, writer?: string }>>()
  readonly writes: Array<{ ns: string, key: string, value: unknown }> = []

  get (ns: string, key: string): { value: unknown, writer?: string } | undefined { return this.data.get(ns)?.get(key) }
  entries (ns: string): Array<[string, { value: unknown, writer?: string }]> { return [...(this.data.get(ns) ?? new Map()).entries()] }
  async write (ns: string, key: string, value: unknown): Promise<unknown> {
    this.writes.push({ ns, key, value })
    this.put(ns, key, value)
    return {}
  }

  /** Set an entry without counting it as a write (the state before the test). */
  put (ns: string, key: string, value: unknown): this {
    const m = this.data.get(ns) ?? new Map()
    m.set(key, { value: JSON.parse(JSON.stringify(value)), writer: 'w' })
    this.data.set(ns, m)
    return this
  }

  deploy (d: Record<string, unknown>): this { return this.put(DEPLOYMENTS_NAMESPACE, d.name as string, d) }
  addRollout (r: Rollout, ...ps: RegionProgress[]): this {
    this.put(ROLLOUTS_NAMESPACE, r.id, r)
    for (const p of ps) this.put(ROLLOUT_PROGRESS_NAMESPACE, progressKey(p.id, p.region, p.term), p)
    return this
  }
}
