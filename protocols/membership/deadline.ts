/**
 * A probe deadline that measures the remote, not our own event loop. When
 * this process stalls (GC, CPU starvation, a burst of handshakes), a plain
 * timer fires late and, because Node runs due timers before polling
 * sockets, it fires before an ack that is already sitting in the socket
 * buffer is read: a healthy member gets suspected for our stall. So:
 *  - if the timer fires more than STALL_SLACK_MS late, the member did not get
 *    a fair chance; extend by the stall (at most by the original timeout
 *    once) and tell the caller (Lifeguard: a stall is bad local health);
 *  - on expiry, abort only after one more I/O turn (setImmediate runs after
 *    the poll phase), so an ack already received still counts.
 */
import { isSystem, systemTimekeeper, type Timekeeper } from '../../lib/clock.js'

const STALL_SLACK_MS = 50

export interface Deadline {
  signal: AbortSignal
  clear: () => void
}

/**
 * @param clock the real one in production. A virtual clock has no I/O phase
 * and never fires late: its "one more turn" is a 0 ms timer, which runs
 * after every event already due at that instant (an ack arriving then).
 */
export function probeDeadline (timeoutMs: number, parent: AbortSignal, onStall?: (lateMs: number) => void, clock: Timekeeper = systemTimekeeper): Deadline {
  const ctrl = new AbortController()
  const real = isSystem(clock)
  let due = clock.monotonic() + timeoutMs
  let extended = false
  let timer: unknown
  let immediate: ReturnType<typeof setImmediate> | undefined
  const expire = (): void => { ctrl.abort(new DOMException(`probe timed out after ${timeoutMs} ms`, 'TimeoutError')) }
  const fire = (): void => {
    const late = clock.monotonic() - due
    if (late > STALL_SLACK_MS && !extended) {
      extended = true
      onStall?.(late)
      const extra = Math.min(late, timeoutMs)
      due = clock.monotonic() + extra
      timer = real ? setTimeout(fire, extra) : clock.setTimeout(fire, extra)
      return
    }
    if (real) immediate = setImmediate(expire)
    else timer = clock.setTimeout(expire, 0)
  }
  timer = real ? setTimeout(fire, timeoutMs) : clock.setTimeout(fire, timeoutMs)
  const onParentAbort = (): void => { ctrl.abort(parent.reason) }
  if (parent.aborted) ctrl.abort(parent.reason)
  else parent.addEventListener('abort', onParentAbort, { once: true })
  return {
    signal: ctrl.signal,
    clear: () => {
      if (timer !== undefined) {
        if (real) clearTimeout(timer as ReturnType<typeof setTimeout>)
        else clock.clearTimeout(timer)
      }
      if (immediate !== undefined) clearImmediate(immediate)
      parent.removeEventListener('abort', onParentAbort)
    }
  }
}
