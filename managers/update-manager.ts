/**
 * Update manager. While this node holds the region's update role it drives
 * the rollouts that include the region (rollout/driver.ts): plans the
 * region's waves, tells nodes to switch by writing fenced progress records,
 * judges each wave's health gate, and fails a wave (with auto-revert, every
 * touched node returns to the last stable version). Each interval it also
 * announces, as the fenced action `update-status`, the rollouts it sees and
 * their states (GET /v1/roles/outputs). Docs: docs/rollouts.md.
 */
import type { Logger } from 'pino'
import { z } from 'zod'
import { defineTunables, tunable } from '../lib/tunables.js'
import { dutyLoop, type DutyTunables, type Role, type State } from './role.js'
import type { RolesMetrics } from './metrics.js'
import type { RolloutDuty } from './rollout/driver.js'

export interface UpdateTunables extends DutyTunables {
  /**
   * Longest pause between two rollout rounds while a rollout of the region
   * runs, ms: how late the update manager may see a node become healthy
   * (a wave passes at most this long after its gate is met) or fail. A
   * round reads a few small records; it writes only when something changed.
   */
  activeIntervalMs: number
}

/** Status period (and the rounds' period while no rollout runs), per profile. */
export const updateTunables = defineTunables<UpdateTunables>({
  module: 'roles.update',
  schema: z.strictObject({ intervalMs: tunable.positive(), activeIntervalMs: tunable.positive() }),
  profiles: {
    lan: { intervalMs: 30_000, activeIntervalMs: 1_000 },
    wan: { intervalMs: 60_000, activeIntervalMs: 2_000 },
    test: { intervalMs: 2_000, activeIntervalMs: 250 }
  }
})

export interface UpdateManagerInit {
  region: string
  intervalMs: number
  activeIntervalMs: number
  /** Periodic statements (role.ts `State`). */
  state: State
  logger: Logger
  metrics: RolesMetrics
  /** Drives rollouts; absent without replicated config (then the role only announces its status). */
  rollouts?: RolloutDuty
}

export class UpdateManager implements Role {
  readonly name = 'update' as const

  constructor (private readonly init: UpdateManagerInit) {}

  onElected (term: number, signal: AbortSignal): void {
    const onError = (err: unknown): void => { this.init.metrics.dutyErrors.inc({ role: 'update' }); this.init.logger.warn({ err }, 'rollout round failed') }
    this.init.rollouts?.run(term, signal, { intervalMs: this.init.intervalMs, activeIntervalMs: this.init.activeIntervalMs }, onError)
    dutyLoop(signal, this.init.intervalMs, async () => {
      await this.init.state('update', 'update-status', { region: this.init.region, at: Date.now(), term, rollouts: this.init.rollouts?.status() })
    }, onError)
  }

  onDemoted (): void {}

  status (): unknown { return { rollouts: this.init.rollouts?.status() } }
}
