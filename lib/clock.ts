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
 * signal after the wait. Returns at once when already aborted.
 */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return
  await new Promise<void>(resolve => {
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
    function done (): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
