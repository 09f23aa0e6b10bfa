/**
 * A running rollout under an emergency freeze (docs/minimal-core.md): the
 * region's update manager holds the role through the roles' duty gate
 * (managers/manager.ts); closing the gate stops the rollout duty at once:
 * over a minute of virtual time it reads nothing, writes nothing, sends
 * nothing, and a config change does not wake it. Opening the gate resumes it
 * in the same term, from the record it left: no new plan, the same waves.
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Registry } from 'prom-client'
import { RoleManager } from '../../../managers/manager.js'
import { rolesMetrics } from '../../../managers/metrics.js'
import { UpdateManager } from '../../../managers/update-manager.js'
import { RolloutDuty, type RolloutConfig } from '../../../managers/rollout/driver.js'
import { rolloutMetrics } from '../../../managers/rollout/metrics.js'
import { checkRolloutEntry, ROLLOUTS_NAMESPACE, type Rollout } from '../../../managers/rollout/record.js'
import { checkProgressEntry, ROLLOUT_PROGRESS_NAMESPACE } from '../../../managers/rollout/progress.js'
import { checkDeploymentEntry, DEPLOYMENTS_NAMESPACE } from '../../../managers/deployment.js'
import type { ElectionEngine } from '../../../protocols/election/index.js'
import type { Member } from '../../../protocols/membership/types.js'
import type { HealthReport } from '../../../protocols/health/index.js'

const logger = pino({ level: 'silent' })
const RULES: Record<string, (k: string, v: unknown) => void> = {
  [ROLLOUTS_NAMESPACE]: checkRolloutEntry,
  [ROLLOUT_PROGRESS_NAMESPACE]: checkProgressEntry,
  [DEPLOYMENTS_NAMESPACE]: checkDeploymentEntry
}

/** Replicated config that counts what the duty does with it. */
class CountingConfig implements RolloutConfig {
  readonly data = new Map<string, Map<string, { value: unknown }>>()
  reads = 0
  writes = 0
  private readonly listeners = new Set<(e: { ns: string }) => void>()
  entries (ns: string): Array<[string, { value: unknown }]> { this.reads++; return [...(this.data.get(ns) ?? new Map())] }
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean } = {}): Promise<unknown> {
    this.writes++
    const m = this.data.get(ns) ?? new Map()
    this.data.set(ns, m)
    if (opts.deleted === true) m.delete(key)
    else { RULES[ns]?.(key, value); m.set(key, { value: structuredClone(value) }) }
    for (const l of this.listeners) l({ ns })
    return {}
  }

  onChange (l: (e: { ns: string }) => void): () => void { this.listeners.add(l); return () => { this.listeners.delete(l) } }
}

describe('rollout duty under an emergency freeze', () => {
  let clock: ReturnType<typeof FakeTimers.install>
  beforeEach(() => { clock = FakeTimers.install({ now: 1_000_000, toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] }) })
  afterEach(() => { clock.uninstall() })

  it('does nothing while frozen, and resumes in the same term from the same record on thaw', async () => {
    const config = new CountingConfig()
    const nodes = ['12D3KooA', '12D3KooB', '12D3KooC']
    const members: Member[] = nodes.map(peerId => ({ peerId, state: 'alive', incarnation: 0, region: 'eu', roles: [], addrs: [], version: '0.1.0', lastSeen: 0 }))
    // Nodes report 1.0.0 running but never healthy on 2.0.0: the canary wave waits, and rounds keep coming.
    const reports = (): Array<{ report: HealthReport }> => nodes.map(peerId => ({
      report: {
        v: 1, peerId, region: 'eu', issuedAt: Date.now(), uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 1,
        memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 1, freeBytes: 1 }, diskFreeBytes: 1, checks: [],
        components: [{ name: 'web', version: '1.0.0', state: 'running', health: 'passing', since: 0, restarts: 0 }]
      } as HealthReport
    }))
    await config.write(DEPLOYMENTS_NAMESPACE, 'web', { name: 'web', version: '1.0.0' })
    const rollout = { id: 'r1', component: 'web', from: '1.0.0', to: '2.0.0', regions: ['eu'], canary: 1, maxParallel: { count: 1 }, minHealthyTimeMs: 2_000, healthyDeadlineMs: 3_600_000, progressDeadlineMs: 3_600_000, autoRevert: true, createdAt: Date.now(), control: { state: 'running', at: Date.now(), promoted: false } } as Rollout
    await config.write(ROLLOUTS_NAMESPACE, rollout.id, rollout)

    const emits: string[] = []
    const emit = async (_role: string, kind: string): Promise<boolean> => { emits.push(kind); return true }
    const duty = new RolloutDuty({ region: 'eu', config: () => config, membership: { self: () => members[0] as Member, members: () => members }, health: { reports }, releaseFacts: () => ({ healthCheck: true }), emit, logger, metrics: rolloutMetrics(new Registry()) })
    const update = new UpdateManager({ region: 'eu', intervalMs: 2_000, activeIntervalMs: 250, state: emit, logger, metrics: rolesMetrics(new Registry()), rollouts: duty })
    const election = Object.assign(new EventTarget(), { actingTerm: (role: string) => role === 'update' ? 3 : undefined }) as unknown as ElectionEngine
    const manager = new RoleManager([update], election, rolesMetrics(new Registry()), logger, { gateOpen: false })
    manager.start()
    election.dispatchEvent(new CustomEvent('role:elected', { detail: { region: 'eu', role: 'update', term: 3, lease: {} } }))
    await clock.tickAsync(10_000)
    assert.equal(config.reads, 0, 'elected before the handoff: nothing runs')

    manager.setGate(true, 'services')
    await clock.tickAsync(10_000)
    const progressKeys = (): string[] => [...(config.data.get(ROLLOUT_PROGRESS_NAMESPACE)?.keys() ?? [])]
    assert.deepEqual(progressKeys(), ['r1/eu/3'], 'the holder planned the region in its term')
    const planned = JSON.stringify(config.data.get(ROLLOUT_PROGRESS_NAMESPACE)?.get('r1/eu/3')?.value)
    assert.ok(config.reads > 0)

    manager.setGate(false, 'frozen')
    const [reads, writes, sent] = [config.reads, config.writes, emits.length]
    // A change of the rollouts would wake a running duty at once: not a frozen one.
    await config.write(DEPLOYMENTS_NAMESPACE, 'other', { name: 'other', version: '1.0.0' })
    await clock.tickAsync(60_000)
    assert.equal(config.reads, reads, 'no round read anything while frozen')
    assert.equal(config.writes, writes + 1, 'only the test\'s own write')
    assert.equal(emits.length, sent, 'no action sent while frozen')

    manager.setGate(true, 'services')
    await clock.tickAsync(10_000)
    assert.ok(config.reads > reads, 'rounds resumed')
    assert.deepEqual(progressKeys(), ['r1/eu/3'], 'same term, same record: nothing planned again')
    const waves = (v: string | undefined): unknown => (JSON.parse(v ?? '{}') as { waves: unknown }).waves
    assert.deepEqual(waves(JSON.stringify(config.data.get(ROLLOUT_PROGRESS_NAMESPACE)?.get('r1/eu/3')?.value)), waves(planned))
    manager.stop()
  })
})
