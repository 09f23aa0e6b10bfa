/**
 * Time for every module: the injected `Clock` of the state machines and one
 * abortable `sleep`. Production uses the real clock; tests pass the virtual
 * clock of test/sim (or a @sinonjs/fake-timers clock, same shape) and step time.
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
    // Suspicion timers must not keep a stopping process alive.
    t.unref?.()
    return t
  },
  clearTimeout: (h) => { clearTimeout(h as ReturnType<typeof setTimeout>) }
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
