/** bench/lib/proc-stat.ts: CPU ticks and RSS parsed from /proc, and a live sample of this process. */
import assert from 'node:assert/strict'
import { cpuPercent, parseStatTicks, parseVmRssBytes, procSample } from '../../bench/lib/proc-stat.js'

describe('bench/lib/proc-stat', () => {
  it('takes utime + stime after the last parenthesis, whatever the command name holds', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    const tail = 'S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 11 0'
    assert.equal(parseStatTicks(`42 (node) ${tail}`), 1801)
    assert.equal(parseStatTicks(`42 (MainThread) (x) y) ${tail}`), 1801)
    assert.equal(parseStatTicks(`42 (a b c) ${tail}`), 1801)
  })

  it('refuses a line that is not a stat line', () => {
    assert.throws(() => parseStatTicks('no parentheses here'), /not a \/proc/)
    assert.throws(() => parseStatTicks('42 (node) S 1 2'), /utime\/stime missing/)
  })

  it('reads VmRSS in kB as bytes; a zombie without the line has 0', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1000 kB\nVmRSS:\t  150528 kB\nRssAnon:\t 100 kB\n'
    assert.equal(parseVmRssBytes(status), 150528 * 1024)
    assert.equal(parseVmRssBytes('Name:\tnode\nState:\tZ (zombie)\n'), 0)
  })

  it('cpuPercent is the CPU time between two samples as a share of one core', () => {
    assert.ok(Math.abs(cpuPercent({ cpuSeconds: 10, rssBytes: 0 }, { cpuSeconds: 10.9, rssBytes: 0 }, 30) - 3) < 1e-9)
  })

  it('samples this process: CPU time grows with work, RSS is plausible', () => {
    const a = procSample(process.pid)
    const until = Date.now() + 120
    while (Date.now() < until) { /* burn > 1 tick */ }
    const b = procSample(process.pid)
    assert.ok(b.cpuSeconds > a.cpuSeconds, `${b.cpuSeconds} after ${a.cpuSeconds}`)
    assert.ok(b.rssBytes > 10e6 && b.rssBytes < 10e9, `rss ${b.rssBytes}`)
  })
})
