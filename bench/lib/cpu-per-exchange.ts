/**
 * CPU per exchange of an operation run in this process (both ends of a
 * loopback exchange when both live here), from `process.cpuUsage`.
 */
import { sleep } from '../../lib/clock.js'

/**
 * Mean CPU µs of `op` over `count` runs. Without a gap the runs go back to
 * back under one measurement. With `gapMs`, the process sleeps that long
 * before each run, as an agent at rest does between messages, and only the
 * run after each sleep is counted (the sleep and the timer's wake-up are not).
 */
export async function cpuPerExchange (op: () => Promise<unknown>, count: number, gapMs = 0): Promise<number> {
  if (gapMs <= 0) {
    const start = process.cpuUsage()
    for (let i = 0; i < count; i++) await op()
    const used = process.cpuUsage(start)
    return (used.user + used.system) / count
  }
  let used = 0
  for (let i = 0; i < count; i++) {
    await sleep(gapMs)
    const start = process.cpuUsage()
    await op()
    const u = process.cpuUsage(start)
    used += u.user + u.system
  }
  return used / count
}
