/**
 * The time source of the state machine. Production uses the real clock;
 * unit tests pass a @sinonjs/fake-timers clock (same shape) and step time.
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
