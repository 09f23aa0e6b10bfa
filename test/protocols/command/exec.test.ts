import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { BoundedOutput, runArgv, truncationMarker } from '../../../protocols/command/exec.js'

describe('protocols/command/exec: argv runner with bounded output and a timeout', () => {
  it('property: BoundedOutput keeps the first max bytes and counts the rest', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.integer({ min: 1, max: 1000 }), (chunks, max) => {
      const out = new BoundedOutput(max)
      for (const c of chunks) out.push(Buffer.from(c))
      const all = Buffer.concat(chunks.map(c => Buffer.from(c)))
      const dropped = Math.max(0, all.byteLength - max)
      assert.equal(out.dropped, dropped)
      const expected = all.subarray(0, max).toString('utf8') + (dropped > 0 ? truncationMarker(dropped) : '')
      assert.equal(out.text(), expected)
    }))
  })

  it('runs the argv as given (no shell) and reports the exit code', async () => {
    const r = await runArgv(['/bin/echo', 'a b', '$(id)', ';', '*'], { timeoutMs: 5_000, maxOutputBytes: 1024 })
    assert.deepEqual(r, { exitCode: 0, output: 'a b $(id) ; *\n' })
    assert.equal((await runArgv(['/bin/false'], { timeoutMs: 5_000, maxOutputBytes: 1024 })).exitCode, 1)
    const missing = await runArgv(['/nonexistent/program'], { timeoutMs: 5_000, maxOutputBytes: 1024 })
    assert.equal(missing.exitCode, null)
    assert.match(missing.error ?? '', /cannot run/)
  })

  it('truncates a flood of output with a marker, and kills it at the timeout', async () => {
    const started = Date.now()
    const r = await runArgv(['/usr/bin/yes'], { timeoutMs: 300, maxOutputBytes: 4096 })
    assert.ok(Date.now() - started < 5_000)
    assert.equal(r.exitCode, null)
    assert.match(r.error ?? '', /timed out/)
    assert.ok(r.output.startsWith('y\ny\n'))
    assert.match(r.output, /\[mycel: output truncated, \d+ more bytes dropped\]\n$/)
    assert.ok(Buffer.byteLength(r.output) < 4096 + 100)
  })

  it('the timeout kills the whole process group, not only the direct child', async () => {
    const started = Date.now()
    // sh starts a sleep in the background and waits: only a group kill ends both (the pipes close).
    const r = await runArgv(['/bin/sh', '-c', 'sleep 30 & wait'], { timeoutMs: 300, maxOutputBytes: 1024 })
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`)
    assert.match(r.error ?? '', /timed out/)
  })
})
