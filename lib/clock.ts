/**
 * Time for every module: the one injected `Clock` shape of the state
 * machines (membership, BFT), `setTimer` for owners that keep a cancel
 * function rather than a handle, `jittered` intervals and one abortable
 * `sleep`. Production uses
 * the real clock; simulations pass the virtual clock of harness/sim (or a
 * @sinonjs/fake-timers clock, same shape) and step time.
 */
export type TimerHandle = unknown

export interface Clock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (handle: TimerHandle) => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    // A timer (a suspicion, a consensus timeout) must not keep a stopping process alive.
    t.unref?.()
    return t
  },
  clearTimeout: (h) => { clearTimeout(h as ReturnType<typeof setTimeout>) }
}

/**
 * A `Clock` that also measures durations. Production measures them with
 * `performance.now()` (monotonic, sub-millisecond), which a wall clock is
 * not; a simulation's virtual time is both. Protocols whose timing is
 * simulated (membership) take one of these; the default is the real one.
 */
export interface Timekeeper extends Clock {
  /** Milliseconds on a monotonic scale with an arbitrary origin, for durations only. */
  monotonic: () => number
}

export const systemTimekeeper: Timekeeper = { ...systemClock, monotonic: () => performance.now() }

/** True for the real clock (either shape): callers keep the platform's own timers and signals for it. */
export function isSystem (clock: Clock): boolean {
  return clock.setTimeout === systemClock.setTimeout
}

/**
 * An AbortSignal that aborts with a `TimeoutError` after `ms` on `clock`
 * (`AbortSignal.timeout` itself on the real clock, whose timers it cannot
 * see otherwise).
 */
export function timeoutSignal (ms: number, clock: Clock = systemClock): AbortSignal {
  if (isSystem(clock)) return AbortSignal.timeout(ms)
  const ctrl = new AbortController()
  clock.setTimeout(() => { ctrl.abort(new DOMException(`The operation was aborted due to timeout after ${ms} ms`, 'TimeoutError')) }, ms)
  return ctrl.signal
}

/** Run `fn` after `ms` on `clock`; returns the function that cancels it. */
export function setTimer (clock: Clock, ms: number, fn: () => void): () => void {
  const handle = clock.setTimeout(fn, ms)
  return () => { clock.clearTimeout(handle) }
}

/**
 * `ms` moved by a uniformly random ±`fraction` of itself: periodic work that
 * nodes started together would otherwise do in waves across the cluster.
 */
export function jittered (ms: number, fraction: number, random: () => number = Math.random): number {
  return ms * (1 + fraction * (2 * random() - 1))
}

/**
 * Wait `ms`, or less if `signal` aborts; never rejects, so a loop checks its
 * signal after the wait. Returns at once when already aborted. On `clock`
 * when given (a simulation's virtual time), else on the global timers.
 */
export async function sleep (ms: number, signal?: AbortSignal, clock?: Clock): Promise<void> {
  if (signal?.aborted === true) return
  await new Promise<void>(resolve => {
    // The real clock's timers are unref'd; a plain sleep keeps the ones it always had.
    const virtual = clock !== undefined && !isSystem(clock) ? clock : undefined
    const t = virtual !== undefined ? virtual.setTimeout(done, ms) : setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
    function done (): void {
      if (virtual !== undefined) virtual.clearTimeout(t)
      else clearTimeout(t as ReturnType<typeof setTimeout>)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
