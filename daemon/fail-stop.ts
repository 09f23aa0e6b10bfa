/**
 * The agent's fail-stop rule for one protocol component, as one part of the
 * agent's lifecycle (lib/lifecycle.ts).
 *
 * A component whose durable state is damaged (at start) or cannot be
 * persisted (at runtime) stops and is recorded in the fault registry; the
 * agent keeps running the rest, so membership and the admin API still
 * answer, /readyz is 503 naming the component, the file and the recovery
 * step, and the component's own routes answer 503 with the same line.
 *
 * How that coexists with start rollback: a fail-stop error (lib/errors.ts
 * `isFailStop`) from the component's start is not a failed start of the
 * agent. This wrapper catches it, reports it and stops the component, and
 * its own start resolves, so the lifecycle goes on and rolls nothing back.
 * Any other error it throws, and the agent's start rolls back as for every
 * other part. While the component runs, a fault reported for it (a failed
 * write, reported by the component itself) stops it.
 */
import type { Logger } from 'pino'
import type { Startable } from '../lib/lifecycle.js'
import { isFailStop } from '../lib/errors.js'
import type { Fault, FaultRegistry } from '../lib/faults.js'
import type { Route } from './api/router.js'

export class FailStopPart<T extends Startable = Startable> implements Startable {
  private unsubscribe?: () => void

  constructor (readonly name: string, readonly component: T, private readonly faults: FaultRegistry, private readonly logger: Logger) {}

  /** Stopped on its durable state (at start or since). */
  get faulted (): boolean { return this.faults.get(this.name) !== undefined }

  async start (): Promise<void> {
    if (this.unsubscribe !== undefined) return
    try {
      await this.component.beforeStart?.()
      await this.component.start()
    } catch (err) {
      if (!isFailStop(err)) throw err
      this.faults.report(this.name, err)
    }
    // From here on, not before: a fault must not stop the component while its start still runs.
    this.unsubscribe = this.faults.onFault((f) => { if (f.component === this.name) void this.stopQuietly() })
    // Faulted during its start (caught above, or reported by the component itself).
    if (this.faulted) await this.stopQuietly()
  }

  async afterStart (): Promise<void> {
    if (!this.faulted) await this.component.afterStart?.()
  }

  async beforeStop (): Promise<void> {
    if (!this.faulted) await this.component.beforeStop?.()
  }

  async stop (): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
    await this.component.stop()
  }

  async afterStop (): Promise<void> {
    await this.component.afterStop?.()
  }

  /** Stop on a fault; the stop error is logged, the fault already says why. */
  private async stopQuietly (): Promise<void> {
    try {
      await this.component.stop()
    } catch (err) {
      this.logger.warn({ err, component: this.name }, 'component stop failed')
    }
  }
}

/** A component's route that answers 503 with its fault instead of touching half-built state while it is stopped. */
export function guardedRoute (faults: FaultRegistry, component: string, route: Route): Route {
  return {
    ...route,
    handler: async (req) => {
      const f = faults.get(component)
      if (f === undefined) return await route.handler(req)
      return { status: 503, json: { error: faultLine(f), fault: f } }
    }
  }
}

/** One line for /readyz and the stopped component's routes: what, which file, what to do. */
export function faultLine (f: Fault): string {
  return `${f.component} stopped: ${f.error}${f.recovery !== undefined ? `; to recover: ${f.recovery}` : ''}`
}
