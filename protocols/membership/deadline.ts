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
const STALL_SLACK_MS = 50

export interface Deadline {
  signal: AbortSignal
  clear: () => void
}

export function probeDeadline (timeoutMs: number, parent: AbortSignal, onStall?: (lateMs: number) => void): Deadline {
  const ctrl = new AbortController()
  let due = performance.now() + timeoutMs
  let extended = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let immediate: ReturnType<typeof setImmediate> | undefined
  const fire = (): void => {
    const late = performance.now() - due
    if (late > STALL_SLACK_MS && !extended) {
      extended = true
      onStall?.(late)
      const extra = Math.min(late, timeoutMs)
      due = performance.now() + extra
      timer = setTimeout(fire, extra)
      return
    }
    immediate = setImmediate(() => {
      ctrl.abort(new DOMException(`probe timed out after ${timeoutMs} ms`, 'TimeoutError'))
    })
  }
  timer = setTimeout(fire, timeoutMs)
  const onParentAbort = (): void => { ctrl.abort(parent.reason) }
  if (parent.aborted) ctrl.abort(parent.reason)
  else parent.addEventListener('abort', onParentAbort, { once: true })
  return {
    signal: ctrl.signal,
    clear: () => {
      if (timer !== undefined) clearTimeout(timer)
      if (immediate !== undefined) clearImmediate(immediate)
      parent.removeEventListener('abort', onParentAbort)
    }
  }
}
