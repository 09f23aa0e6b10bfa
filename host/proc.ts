/**
 * Which process a pid is: a pid alone names a process only until it exits
 * and the kernel hands the number to another one. A pid plus its start time
 * (/proc/<pid>/stat field 22) plus the boot id names one process for good,
 * the rule lib/dir-lock.ts judges its holder by; the supervisor records it
 * to re-adopt a component after the agent restarts, and checks it before it
 * signals a process it did not start.
 */
import { bootId, holderAlive, startTimeOf } from '../lib/dir-lock.js'

export interface ProcessIdentity {
  pid: number
  /** Clock ticks after boot when the process started; undefined without /proc (not Linux) or once it is gone. */
  startTime?: string
  bootId?: string
}

/** The identity of the live process `pid` (fields undefined when /proc does not say). */
export function identify (pid: number): ProcessIdentity {
  return { pid, startTime: startTimeOf(pid), bootId: bootId() }
}

/**
 * Is the process `id` names still running (not a zombie)? A recorded pid
 * that now belongs to another process (another start time or boot) is not it.
 * On Linux an identity without a start time matches nothing: its process
 * was gone when it was recorded.
 */
export function isSameProcess (id: ProcessIdentity): boolean {
  if (id.startTime === undefined && bootId() !== undefined) return false
  return holderAlive({ pid: id.pid, startTime: id.startTime, bootId: id.bootId, since: '' })
}

/**
 * Send `signal` to the process group `pgid` (a component leads its own
 * group, so its pid is the group id). False when no process of the group is
 * left (ESRCH); other errors (EPERM) are thrown.
 */
export function signalGroup (pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}
