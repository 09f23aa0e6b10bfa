/**
 * CPU time and resident memory of a process from Linux's /proc, the one
 * sampler the benchmarks share: CPU is `/proc/<pid>/stat` utime + stime,
 * memory `/proc/<pid>/status` VmRSS. A window's CPU share is the difference
 * of two samples over the wall time between them.
 */
import { readFileSync } from 'node:fs'

/**
 * Clock ticks per second of utime/stime. USER_HZ is part of Linux's
 * user-space ABI and 100 on every architecture Node runs on (`getconf
 * CLK_TCK`); reading it would mean a child process for a constant.
 */
export const CLOCK_TICKS_PER_SECOND = 100

/** One sample of a process. */
export interface ProcSample {
  /** utime + stime, seconds. */
  cpuSeconds: number
  /** VmRSS, bytes. */
  rssBytes: number
}

/**
 * utime + stime in ticks from the text of /proc/<pid>/stat. The command
 * name (field 2) is in parentheses and may hold spaces and parentheses
 * itself, so the fields are counted after the last ')': state is the first
 * of them, utime the 12th and stime the 13th (fields 14 and 15 of proc(5)).
 */
export function parseStatTicks (stat: string): number {
  const close = stat.lastIndexOf(')')
  if (close < 0) throw new Error('not a /proc/<pid>/stat line: no command name in parentheses')
  const fields = stat.slice(close + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('not a /proc/<pid>/stat line: utime/stime missing')
  return utime + stime
}

/** VmRSS in bytes from the text of /proc/<pid>/status (0 for a zombie, which has no VmRSS line). */
export function parseVmRssBytes (status: string): number {
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]
  return kb !== undefined ? Number(kb) * 1024 : 0
}

/** CPU time and RSS of `pid` now; throws when the process is gone. */
export function procSample (pid: number): ProcSample {
  const cpuSeconds = parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / CLOCK_TICKS_PER_SECOND
  const rssBytes = parseVmRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return { cpuSeconds, rssBytes }
}

/** Percent of one core used between two samples `seconds` apart. */
export function cpuPercent (before: ProcSample, after: ProcSample, seconds: number): number {
  return 100 * (after.cpuSeconds - before.cpuSeconds) / seconds
}

