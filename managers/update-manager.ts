/**
 * Update manager: a PLACEHOLDER loop until the rollout issue lands. While it
 * holds the role it only announces, as a fenced action, that it is the
 * region's update manager and that no rollout is in progress. Rollout waves,
 * health gates and rollback arrive with the rollout issue (docs/roles.md).
 */
import type { Logger } from 'pino'
import { dutyLoop, dutyTunables, type Emit, type Role } from './role.js'
import type { RolesMetrics } from './metrics.js'

/** Placeholder loop period, per profile. */
export const updateTunables = dutyTunables('update', {
  lan: { intervalMs: 30_000 },
  wan: { intervalMs: 60_000 },
  test: { intervalMs: 2_000 }
})

export interface UpdateManagerInit {
  region: string
  intervalMs: number
  emit: Emit
  logger: Logger
  metrics: RolesMetrics
}

export class UpdateManager implements Role {
  readonly name = 'update' as const
  private ticks = 0

  constructor (private readonly init: UpdateManagerInit) {}

  onElected (term: number, signal: AbortSignal): void {
    this.init.logger.info({ term }, 'update manager active (placeholder: rollouts are not implemented yet)')
    dutyLoop(signal, this.init.intervalMs, async () => {
      this.ticks++
      await this.init.emit('update', 'update-status', { region: this.init.region, at: Date.now(), state: 'idle', placeholder: true, note: 'rollouts arrive with the rollout issue' })
    }, (err) => { this.init.metrics.dutyErrors.inc({ role: 'update' }); this.init.logger.warn({ err }, 'update loop failed') })
  }

  onDemoted (): void {}

  status (): unknown { return { placeholder: true, ticks: this.ticks } }
}
