/**
 * Components that stopped on their own durable state (fail-stop) and why.
 * A component that finds its file corrupt, or cannot persist, reports here
 * and stops; the agent keeps serving the rest (membership, the admin API)
 * and answers `/readyz` with 503 naming the component, the file and the
 * recovery step, until an operator has done that step and restarted it.
 */
import { isFailStop } from './errors.js'

export interface Fault {
  /** Component that stopped: `config`, `critical`, `roles`, ... */
  component: string
  /** What went wrong, one line. */
  error: string
  /** The durable file at fault, when there is one. */
  file?: string
  /** What the operator does about it. */
  recovery?: string
  /** ISO time it was reported. */
  since: string
}

/** What a component gets: a way to say "I stopped because of this". */
export interface FaultSink {
  report: (component: string, err: unknown) => void
}

export class FaultRegistry implements FaultSink {
  private readonly faults = new Map<string, Fault>()
  private readonly listeners = new Set<(fault: Fault) => void>()

  /** Record the first fault of a component (later ones are consequences) and tell the listeners. */
  report (component: string, err: unknown): void {
    if (this.faults.has(component)) return
    const e = err as Error
    const fault: Fault = {
      component,
      error: e?.message ?? String(err),
      ...(isFailStop(err) ? { file: err.file, recovery: err.recovery } : {}),
      since: new Date().toISOString()
    }
    this.faults.set(component, fault)
    for (const l of this.listeners) l(fault)
  }

  get (component: string): Fault | undefined { return this.faults.get(component) }

  list (): Fault[] { return [...this.faults.values()] }

  onFault (listener: (fault: Fault) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}
