/**
 * A virtual clock for deterministic simulations: timers fire in simulated
 * time order, ties in the order they were set, and time moves only when the
 * test moves it. Nothing here reads the real clock, so a run depends on its
 * seed alone.
 *
 * One object serves both ways production code reads time:
 *  - the `Clock` of lib/clock.ts (`now`, `setTimeout(fn, ms)`,
 *    `clearTimeout(h)`) that the state machines take (membership, BFT);
 *  - code that uses the global timers and `Date` (the election engine):
 *    `install()` replaces them until the returned function is called.
 * `scope()` gives a view whose timers all die together, which is how the
 * network harness makes a crashed node's timers vanish.
 *
 * Driving it:
 *  - `tick(ms)` fires due timers synchronously (synchronous state machines);
 *  - `run({ until, settle, stopBefore })` / `tickAsync(ms)` await each timer's
 *    returned promise and then `settle()` (by default one real macrotask, so
 *    promise chains started by a timer finish before the next timer fires).
 */
import type { Clock } from '../../lib/clock.js'
import { MinHeap } from '../../lib/min-heap.js'

/** A pending timer. Shaped like Node's `Timeout` where production code touches it (`unref`). */
export class VirtualTimer {
  cancelled = false
  constructor (
    public at: number,
    readonly seq: number,
    readonly fn: () => unknown,
    /** Repeat period (setInterval), or undefined for a one-shot timer. */
    readonly every?: number
  ) {}

  unref (): this { return this }
  ref (): this { return this }
  hasRef (): boolean { return false }
}

export interface RunOptions {
  /** Virtual time to stop at; the clock ends there unless stopped earlier. Default: until no timer is left. */
  until?: number
  /** Awaited after each timer (default: one real macrotask, so every microtask chain settles). */
  settle?: () => unknown
  /** Asked before each timer with its due time; true stops the run without firing it (time stays put). */
  stopBefore?: (at: number) => boolean
}

/** Real `setImmediate`, captured before any test can replace globals. */
const realSetImmediate = globalThis.setImmediate
const yieldMacrotask = async (): Promise<void> => { await new Promise<void>(resolve => realSetImmediate(resolve)) }

export class VirtualClock implements Clock {
  private nowMs: number
  private seq = 0
  private live = 0
  /** Timers by (at, seq); cancelled timers are removed lazily. */
  private readonly heap = new MinHeap<VirtualTimer>(before)

  constructor (startMs = 0) { this.nowMs = startMs }

  now = (): number => this.nowMs

  setTimeout = (fn: () => unknown, ms = 0): VirtualTimer => this.add(fn, ms)
  clearTimeout = (handle: unknown): void => {
    if (handle instanceof VirtualTimer && !handle.cancelled) {
      handle.cancelled = true
      this.live--
    }
  }

  setInterval = (fn: () => unknown, ms = 0): VirtualTimer => this.add(fn, ms, Math.max(1, ms))
  clearInterval = (handle: unknown): void => { this.clearTimeout(handle) }

  /** Timers not yet fired or cancelled. */
  get pending (): number { return this.live }

  /** Due time of the next timer, if any. */
  nextAt (): number | undefined { return this.peek()?.at }

  /** A view of this clock whose timers `cancelAll()` kills at once (and any set after). */
  scope (): ClockScope { return new ClockScope(this) }

  /** Advance by `ms`, firing due timers synchronously; promises they return are not awaited. */
  tick (ms: number): void {
    const until = this.nowMs + ms
    for (let t = this.peek(); t !== undefined && t.at <= until; t = this.peek()) this.fire(t)
    this.nowMs = until
  }

  /** Advance by `ms` like `tick`, but await each timer and let promise chains settle in between. */
  async tickAsync (ms: number): Promise<void> { await this.run({ until: this.nowMs + ms }) }

  /** Fire timers in time order until `until`, no timer left, or `stopBefore`; returns how many fired. */
  async run (opts: RunOptions = {}): Promise<number> {
    const until = opts.until ?? Infinity
    const settle = opts.settle ?? yieldMacrotask
    let fired = 0
    // What the caller started just before settles first, as it would before the next timer.
    await settle()
    for (let t = this.peek(); t !== undefined && t.at <= until; t = this.peek()) {
      if (opts.stopBefore?.(t.at) === true) return fired
      await this.fire(t)
      await settle()
      fired++
    }
    if (until !== Infinity && until > this.nowMs) this.nowMs = until
    return fired
  }

  /**
   * Replace the global timers and `Date` with this clock (for code that does
   * not take a clock). Returns the function that puts the real ones back.
   */
  install (): () => void {
    const g = globalThis as any
    const saved = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval, Date: g.Date }
    const RealDate: DateConstructor = saved.Date
    const now = this.now
    class VirtualDate extends RealDate {
      constructor (...args: unknown[]) {
        if (args.length === 0) super(now())
        else super(...(args as [string]))
      }

      static now (): number { return now() }
    }
    Object.assign(g, { setTimeout: this.setTimeout, clearTimeout: this.clearTimeout, setInterval: this.setInterval, clearInterval: this.clearInterval, Date: VirtualDate })
    return () => { Object.assign(g, saved) }
  }

  private add (fn: () => unknown, ms: number, every?: number): VirtualTimer {
    const t = new VirtualTimer(this.nowMs + Math.max(0, ms), this.seq++, fn, every)
    this.heap.push(t)
    this.live++
    return t
  }

  private fire (t: VirtualTimer): unknown {
    this.heap.pop()
    this.nowMs = t.at
    if (t.every !== undefined) {
      // Rescheduled before it runs, as Node does: the callback may clear it.
      t.at += t.every
      this.heap.push(t)
    } else {
      t.cancelled = true
      this.live--
    }
    return t.fn()
  }

  private peek (): VirtualTimer | undefined {
    while (this.heap.peek()?.cancelled === true) this.heap.pop()
    return this.heap.peek()
  }
}

function before (a: VirtualTimer, b: VirtualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/**
 * The timers of one owner (a simulated node's process): same shapes as the
 * clock, and `cancelAll()` when the owner crashes. After that every timer set
 * through the scope is inert, as a dead process's timers would be.
 */
export class ClockScope implements Clock {
  private readonly timers = new Set<VirtualTimer>()
  private dead = false

  constructor (readonly clock: VirtualClock) {}

  now = (): number => this.clock.now()

  setTimeout = (fn: () => unknown, ms = 0): VirtualTimer => {
    const t: VirtualTimer = this.clock.setTimeout(() => {
      this.timers.delete(t)
      return fn()
    }, ms)
    if (this.dead) this.clock.clearTimeout(t)
    else this.timers.add(t)
    return t
  }

  clearTimeout = (handle: unknown): void => {
    if (handle instanceof VirtualTimer) this.timers.delete(handle)
    this.clock.clearTimeout(handle)
  }

  cancelAll (): void {
    this.dead = true
    for (const t of this.timers) this.clock.clearTimeout(t)
    this.timers.clear()
  }
}
