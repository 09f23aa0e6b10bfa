/**
 * One lifecycle for every long-lived part of the daemon.
 *
 * The hooks are libp2p's (`@libp2p/interface` startable.ts): `beforeStart`,
 * `start`, `afterStart`, `beforeStop`, `stop`, `afterStop`. What differs is
 * ordering and failure:
 *
 *  - Parts start **one after another in the order they were added** and stop
 *    in the reverse order. libp2p starts its components concurrently because
 *    they only meet through events; ours depend on each other (membership
 *    needs a started libp2p node, config-sync needs membership), so the order
 *    is part of the design and is written once, in the composition root.
 *  - **A failed start rolls back**: every part whose `beforeStart` already
 *    ran is stopped again (`stop`, then `afterStop`), newest first, and the
 *    start rejects with a `StartError` naming the part that failed. Nothing
 *    is left half-running, so a caller can report the error and exit, or try
 *    again with a fresh set of parts.
 *  - **Stop never gives up half-way**: a part whose `beforeStop`/`stop`/
 *    `afterStop` throws is reported through `onStopError` and the remaining
 *    parts are still stopped. `beforeStop` runs for every part (newest first)
 *    while all of them still run, which is where a graceful leave is
 *    announced: the network is still up.
 *
 * A `Lifecycle` is itself `Startable`, so groups nest (a component can own a
 * lifecycle of its own parts and be one part of the agent's).
 *
 * Status: `Startable` is what every part implements today; `Lifecycle`
 * itself is the foundation of the structure issue (12) and is not used yet:
 * daemon/agent.ts still starts and stops its parts by hand, with its own
 * fail-stop rule for protocol components (a part that stops on a damaged
 * file is recorded, not rolled back).
 */

export interface Startable {
  /** Runs before this part's `start`; earlier parts have started, later ones have not. */
  beforeStart?: () => void | Promise<void>
  /** Idempotent: a second call while started does nothing. */
  start: () => void | Promise<void>
  /** Runs once every part has started. */
  afterStart?: () => void | Promise<void>
  /** Runs while every part is still running (newest first): announce leaving here. */
  beforeStop?: () => void | Promise<void>
  /** Idempotent: safe twice and before start. */
  stop: () => void | Promise<void>
  /** Runs once every part has stopped. */
  afterStop?: () => void | Promise<void>
}

/** A part's start failed; the parts started before it were stopped again. */
export class StartError extends Error {
  static name = 'StartError'
  override name = 'StartError'
  constructor (readonly part: string, readonly cause: unknown) {
    super(`${part} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

/** Start or stop called in a state that does not allow it. */
export class LifecycleStateError extends Error {
  static name = 'LifecycleStateError'
  override name = 'LifecycleStateError'
}

export type LifecycleState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped'

type Hook = 'beforeStart' | 'start' | 'afterStart' | 'beforeStop' | 'stop' | 'afterStop'

export interface LifecycleInit {
  /** Called for every hook that throws during stop or rollback; stopping goes on. */
  onStopError?: (part: string, hook: Hook, err: unknown) => void
}

interface Entry { name: string, part: Startable }

export class Lifecycle implements Startable {
  private readonly parts: Entry[] = []
  /** Parts whose beforeStart ran, in start order: what a rollback or stop must undo. */
  private entered: Entry[] = []
  private current: LifecycleState = 'new'

  constructor (private readonly init: LifecycleInit = {}) {}

  get state (): LifecycleState { return this.current }

  /** Names in start order. */
  get names (): string[] { return this.parts.map(p => p.name) }

  /** Append a part; the start order is the order of `add` calls. Only before start. */
  add<T extends Startable> (name: string, part: T): T {
    if (this.current !== 'new') throw new LifecycleStateError(`cannot add ${name}: lifecycle is ${this.current}`)
    if (this.parts.some(p => p.name === name)) throw new LifecycleStateError(`part ${name} added twice`)
    this.parts.push({ name, part })
    return part
  }

  async start (): Promise<void> {
    if (this.current === 'started' || this.current === 'starting') return
    if (this.current !== 'new') throw new LifecycleStateError(`cannot start a lifecycle that is ${this.current}`)
    this.current = 'starting'
    let failed: { name: string, err: unknown } | undefined
    for (const entry of this.parts) {
      this.entered.push(entry)
      try {
        await entry.part.beforeStart?.()
        await entry.part.start()
      } catch (err) {
        failed = { name: entry.name, err }
        break
      }
    }
    if (failed === undefined) {
      for (const entry of this.parts) {
        try {
          await entry.part.afterStart?.()
        } catch (err) {
          failed = { name: entry.name, err }
          break
        }
      }
    }
    if (failed !== undefined) {
      await this.unwind(false)
      this.current = 'stopped'
      throw new StartError(failed.name, failed.err)
    }
    this.current = 'started'
  }

  async stop (): Promise<void> {
    if (this.current === 'new') { this.current = 'stopped'; return }
    if (this.current === 'stopping' || this.current === 'stopped') return
    this.current = 'stopping'
    await this.unwind(true)
    this.current = 'stopped'
  }

  /** Stop every entered part, newest first; `graceful` also runs beforeStop. */
  private async unwind (graceful: boolean): Promise<void> {
    const parts = [...this.entered].reverse()
    this.entered = []
    if (graceful) for (const e of parts) await this.quietly(e, 'beforeStop')
    for (const e of parts) await this.quietly(e, 'stop')
    for (const e of parts) await this.quietly(e, 'afterStop')
  }

  private async quietly (e: Entry, hook: 'beforeStop' | 'stop' | 'afterStop'): Promise<void> {
    try {
      await e.part[hook]?.()
    } catch (err) {
      this.init.onStopError?.(e.name, hook, err)
    }
  }
}
