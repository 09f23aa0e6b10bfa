/**
 * daemon/code-cache.ts: `mycel agent` from the agent's CommonJS bundle and
 * V8's code cache, only when the cache is this node's and the build's. The
 * starts run in child processes (a code cache is per process), through the
 * built module (npm test builds first) and a small stand-in bundle.
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import fc from 'fast-check'
import { CODE_CACHE_MANIFEST, CODE_CACHE_OUT_ENV, CodeCacheManifestError, codeCacheFileName, readCodeCacheManifest, startFromCodeCache, thisNode } from '../../daemon/code-cache.js'

const run = promisify(execFile)
const BUILT = resolve('dist/daemon/code-cache.js')

// A bundle that reports what it ran with; large enough that V8 has something to cache. Its first statement is
// not a directive, as in the build's bundle (its banner comes first).
const BUNDLE = `const early = 1
'use strict'
const { join } = require('node:path')
const fns = []
${Array.from({ length: 200 }, (_, i) => `fns.push(function f${i} (x) { return x * ${i} + ${i} })`).join('\n')}
process.stdout.write(JSON.stringify({ ran: true, argv: process.argv.slice(2), state: globalThis[Symbol.for('mycel.codeCacheState')] ?? null, filename: __filename, joined: join('a', 'b'), sum: fns.reduce((s, f) => s + f(1), 0) + early - 1, strict: (function () { return this })() === undefined }))
`

/** Runs `startFromCodeCache(argv, dir)` in a fresh node; its stdout and whether it started from the bundle. */
async function start (dir: string, argv: string[], opts: { env?: Record<string, string>, nodeArgs?: string[] } = {}): Promise<{ started: boolean, out: any, stderr: string }> {
  const script = `import { startFromCodeCache } from ${JSON.stringify(BUILT)}
const argv = process.argv.slice(2)
if (!startFromCodeCache(argv, ${JSON.stringify(dir)})) process.stdout.write(JSON.stringify({ ran: false, state: globalThis[Symbol.for('mycel.codeCacheState')] ?? null }))`
  const file = join(dir, 'start.mjs')
  writeFileSync(file, script)
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env }
  delete env.NODE_OPTIONS
  const { stdout, stderr } = await run(process.execPath, [...(opts.nodeArgs ?? []), file, ...argv], { env })
  const out = JSON.parse(stdout)
  return { started: out.ran === true, out, stderr }
}

describe('daemon code cache', () => {
  let dir: string
  beforeEach(() => {
    assert.ok(existsSync(BUILT), `${BUILT} missing: npm run build first`)
    dir = mkdtempSync(join(tmpdir(), 'mycel-code-cache-'))
    writeFileSync(join(dir, 'agent-test.cjs'), BUNDLE)
  })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  const manifest = (m: object): void => { writeFileSync(join(dir, CODE_CACHE_MANIFEST), JSON.stringify(m)) }
  const ours = { bundle: 'agent-test.cjs', ...thisNode(), flags: [] }
  const cacheName = codeCacheFileName('agent-test.cjs', thisNode())

  it('records a cache in the build\'s run, then starts from it; the bundle gets argv, require and __filename', async () => {
    manifest(ours)
    const rec = await start(dir, ['agent', '--x', '1'], { env: { [CODE_CACHE_OUT_ENV]: join(dir, cacheName) } })
    assert.equal(rec.out.state, 'recording')
    assert.ok(statSync(join(dir, cacheName)).size > 0, 'the cache was written at exit')
    manifest({ ...ours, cache: cacheName })
    const r = await start(dir, ['agent', '--x', '1'])
    assert.deepEqual(r.out, { ran: true, argv: ['agent', '--x', '1'], state: 'accepted', filename: join(dir, 'agent-test.cjs'), joined: join('a', 'b'), sum: rec.out.sum, strict: true })
    assert.equal(rec.out.sum, 39800) // the sum over i < 200 of 2i: the bundle's code, run
  })

  it('a cache V8 refuses (other V8 flags) still runs the bundle, compiled as usual', async () => {
    manifest(ours)
    await start(dir, ['agent'], { env: { [CODE_CACHE_OUT_ENV]: join(dir, cacheName) } })
    manifest({ ...ours, cache: cacheName })
    const r = await start(dir, ['agent'], { nodeArgs: ['--no-lazy'] })
    assert.equal(r.out.ran, true)
    assert.equal(r.out.state, 'rejected')
  })

  it('only `mycel agent` and only a cache of this node: otherwise the caller loads the ES modules, the state saying why', async () => {
    writeFileSync(join(dir, cacheName), 'not a cache')
    // No manifest (tsc's output, the tests).
    assert.deepEqual((await start(dir, ['agent'])).out, { ran: false, state: null })
    manifest({ ...ours, cache: cacheName })
    assert.equal(startFromCodeCache(['status'], dir), false)
    assert.equal(startFromCodeCache([], dir), false)
    for (const other of [{ node: 'v0.0.1' }, { v8: '1.0' }, { platform: 'aix' }, { arch: 'not-this-arch' }]) {
      const m = { ...ours, ...other }
      manifest({ ...m, cache: codeCacheFileName('agent-test.cjs', m) })
      assert.deepEqual((await start(dir, ['agent'])).out, { ran: false, state: 'other-node' }, JSON.stringify(other))
    }
    // The build's recording failed: a manifest without a cache.
    manifest(ours)
    assert.deepEqual((await start(dir, ['agent'])).out, { ran: false, state: 'no-cache' })
    // An empty MYCEL_CODE_CACHE_OUT is no recording run.
    assert.deepEqual((await start(dir, ['agent'], { env: { [CODE_CACHE_OUT_ENV]: '' } })).out, { ran: false, state: 'no-cache' })
  })

  it('a manifest naming a file that is not there: one line on stderr, and the ES modules load', async () => {
    manifest({ ...ours, cache: cacheName })
    const r = await start(dir, ['agent'])
    assert.deepEqual(r.out, { ran: false, state: 'broken' })
    assert.match(r.stderr, /^mycel: not starting from the code cache: .*\.cache/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
  })

  it('a cache damaged on disk, or recorded from other bytes of the bundle (edited in place, same length): refused, and the ES modules load', async () => {
    manifest(ours)
    await start(dir, ['agent'], { env: { [CODE_CACHE_OUT_ENV]: join(dir, cacheName) } })
    manifest({ ...ours, cache: cacheName })
    assert.equal((await start(dir, ['agent'])).out.state, 'accepted')
    const good = readFileSync(join(dir, cacheName))
    // One byte of V8's data flipped: V8 would not notice (it checks lengths, flags and version).
    const damaged = Buffer.from(good)
    damaged[good.length - 100] ^= 0x40
    writeFileSync(join(dir, cacheName), damaged)
    let r = await start(dir, ['agent'])
    assert.deepEqual(r.out, { ran: false, state: 'broken' })
    assert.match(r.stderr, /fails its checksum/)
    // The bundle edited in place, its length unchanged.
    writeFileSync(join(dir, cacheName), good)
    writeFileSync(join(dir, 'agent-test.cjs'), BUNDLE.replace('x * 1 + 1', 'x * 1 - 1'))
    assert.equal(readFileSync(join(dir, 'agent-test.cjs'), 'utf8').length, BUNDLE.length)
    r = await start(dir, ['agent'])
    assert.deepEqual(r.out, { ran: false, state: 'broken' })
    assert.match(r.stderr, /recorded from other bytes of agent-test\.cjs/)
  })

  it('reads back every manifest the build can write, and refuses any other (fast-check)', () => {
    const fileName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/)
    const word = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/)
    const written = fc.record({ bundle: fileName, node: word, v8: word, platform: word, arch: word, flags: fc.array(fc.string()), withCache: fc.boolean() })
    fc.assert(fc.property(written, ({ withCache, ...m }) => {
      const full = withCache ? { ...m, cache: codeCacheFileName(m.bundle, m) } : m
      manifest(full)
      assert.deepEqual(readCodeCacheManifest(dir), full)
    }), { numRuns: 50 })
    // A cache that is not the bundle's and the node's, a name that leaves the directory, anything but a name.
    const badName = fc.oneof(
      fc.string().filter(s => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s)),
      fc.constantFrom('../agent.cjs', '/etc/passwd', '.hidden', 'a/b', ''),
      fc.integer(), fc.constant(null), fc.array(fc.string())
    )
    fc.assert(fc.property(badName, (value) => {
      manifest({ ...ours, bundle: value })
      assert.throws(() => readCodeCacheManifest(dir), CodeCacheManifestError)
    }), { numRuns: 100 })
    fc.assert(fc.property(fc.oneof(badName, fileName), (value) => {
      fc.pre(value !== cacheName)
      manifest({ ...ours, cache: value })
      assert.throws(() => readCodeCacheManifest(dir), CodeCacheManifestError)
    }), { numRuns: 100 })
    // Another bundle's cache, or one of another node.
    for (const cache of [codeCacheFileName('agent-other.cjs', thisNode()), codeCacheFileName('agent-test.cjs', { ...thisNode(), node: 'v0.0.1' })]) {
      manifest({ ...ours, cache })
      assert.throws(() => readCodeCacheManifest(dir), CodeCacheManifestError, cache)
    }
    for (const text of ['', '{', '[]', 'null', '"x"', JSON.stringify({ bundle: 'a.cjs', arch: 'x64' }), JSON.stringify({ ...ours, flags: 'x' }), JSON.stringify({ ...ours, v8: '' })]) {
      writeFileSync(join(dir, CODE_CACHE_MANIFEST), text)
      assert.throws(() => readCodeCacheManifest(dir), CodeCacheManifestError, text)
    }
    rmSync(join(dir, CODE_CACHE_MANIFEST))
    assert.equal(readCodeCacheManifest(dir), undefined)
  })
})
