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
 * Two ways to start. `add` every part, then `start()`: for parts that can
 * all be built up front. Or `startPart` one part after another, then
 * `finishStart()`: for a composition root whose parts can only be built once
 * earlier ones run (the agent reads its identity, and so can build libp2p,
 * only once it holds the data dir lock). Each part is then built with what
 * the parts before it produced, and no part reaches for one built later.
 * Rollback and stop are the same for both.
 *
 * Fail-stop is not this file's rule: a part that must not roll the others
 * back when it fails (the agent's protocol components, which stop on a
 * damaged file and let the agent run on) wraps its start and does not throw
 * (daemon/fail-stop.ts). What a part's start throws always rolls back.
 *
 * Used by daemon/agent.ts for every part of the agent.
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
  /** Told when a part has started and when its stop has run (for the log; tests watch the order). */
  onPart?: (part: string, event: 'started' | 'stopped') => void
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
    this.checkName(name)
    this.parts.push({ name, part })
    return part
  }

  async start (): Promise<void> {
    if (this.current === 'started' || this.current === 'starting') return
    if (this.current !== 'new') throw new LifecycleStateError(`cannot start a lifecycle that is ${this.current}`)
    this.current = 'starting'
    for (const entry of this.parts) await this.enter(entry)
    await this.finishStart()
  }

  /**
   * Start one more part now, after the parts already started. Given a
   * function, builds the part first with it: a build that throws is that
   * part's failed start. A failure rolls back every part started so far and
   * rejects with a `StartError`, as `start()` does. Not with parts given to
   * `add`; call `finishStart()` after the last part.
   */
  async startPart<T extends Startable> (name: string, part: T | (() => T | Promise<T>)): Promise<T> {
    if (this.current === 'new' && this.parts.length > 0) throw new LifecycleStateError(`cannot start ${name} alone: parts were added; start them with start()`)
    if (this.current === 'new') this.current = 'starting'
    if (this.current !== 'starting') throw new LifecycleStateError(`cannot start ${name}: lifecycle is ${this.current}`)
    this.checkName(name)
    let built: T
    try {
      built = typeof part === 'function' ? await part() : part
    } catch (err) {
      return await this.fail(name, err)
    }
    // A stop that came in while the part was being built has already undone the others.
    if (this.current !== 'starting') throw new LifecycleStateError(`cannot start ${name}: lifecycle is ${this.current}`)
    const entry = { name, part: built }
    this.parts.push(entry)
    await this.enter(entry)
    return built
  }

  /** End a start made of `startPart` calls: every part's `afterStart`, then `started`. */
  async finishStart (): Promise<void> {
    if (this.current !== 'starting') throw new LifecycleStateError(`cannot finish starting a lifecycle that is ${this.current}`)
    for (const entry of this.entered) {
      try {
        await entry.part.afterStart?.()
      } catch (err) {
        await this.fail(entry.name, err)
      }
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

  private checkName (name: string): void {
    if (this.parts.some(p => p.name === name)) throw new LifecycleStateError(`part ${name} added twice`)
  }

  /** beforeStart and start of one part; a failure rolls back (the part itself included) and throws. */
  private async enter (entry: Entry): Promise<void> {
    this.entered.push(entry)
    try {
      await entry.part.beforeStart?.()
      await entry.part.start()
    } catch (err) {
      await this.fail(entry.name, err)
    }
    this.init.onPart?.(entry.name, 'started')
  }

  /** Roll back what entered (unless a stop already does) and reject naming the part. */
  private async fail (name: string, err: unknown): Promise<never> {
    if (this.current === 'starting') {
      await this.unwind(false)
      this.current = 'stopped'
    }
    throw new StartError(name, err)
  }

  /** Stop every entered part, newest first; `graceful` also runs beforeStop. */
  private async unwind (graceful: boolean): Promise<void> {
    const parts = [...this.entered].reverse()
    this.entered = []
    if (graceful) for (const e of parts) await this.quietly(e, 'beforeStop')
    for (const e of parts) {
      await this.quietly(e, 'stop')
      this.init.onPart?.(e.name, 'stopped')
    }
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
