/** launcher/state-file.ts: the launcher state round-trips, is replaced whole, and any damage is CoreStateCorruptError. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CoreStateCorruptError, decodeState, encodeState, readState, writeState } from '../../launcher/state-file.js'
import { EMPTY_STATE, MAX_BAD_BUILDS, type LauncherState } from '../../launcher/state.js'

const versionArb = fc.stringMatching(/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9]{1,8})?$/)
const buildArb = versionArb.map(version => ({ version, dir: `/var/lib/mycel/components/mycel/${version}` }))
const stateArb: fc.Arbitrary<LauncherState> = fc.record({
  good: fc.option(buildArb, { nil: undefined }),
  trying: fc.option(fc.record({ version: versionArb, dir: fc.constant('/d/x'), attempts: fc.nat(10) }), { nil: undefined }),
  bad: fc.array(fc.record({ version: versionArb, dir: fc.constant('/d/y'), at: fc.nat(), attempts: fc.nat(10), reason: fc.string({ minLength: 1, maxLength: 100 }), returnedTo: versionArb }), { maxLength: MAX_BAD_BUILDS })
}).map(({ good, trying, bad }) => plain({ ...(good !== undefined ? { good } : {}), ...(trying !== undefined ? { trying } : {}), bad }))

/** fast-check's records have no prototype; JSON gives plain objects, as the decoder does. */
function plain<T> (x: T): T { return JSON.parse(JSON.stringify(x)) as T }

describe('launcher/state-file', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-launcher-state-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('property: every state round-trips through its text', () => {
    fc.assert(fc.property(stateArb, s => { assert.deepEqual(decodeState('f', encodeState(s)), s) }))
  })

  it('property: any change to one byte of the file is refused, never read as another state', () => {
    fc.assert(fc.property(stateArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (s, at, flip) => {
      const bytes = Buffer.from(encodeState(s))
      const i = at % bytes.length
      bytes[i] = bytes[i]! ^ flip
      let decoded: LauncherState | undefined
      try { decoded = decodeState('f', bytes.toString('utf8')) } catch (err) { assert.ok(err instanceof CoreStateCorruptError, String(err)); return }
      // A flip that survives UTF-8 decoding unchanged (an invalid byte turned into U+FFFD twice) is the only way through.
      assert.deepEqual(decoded, s)
    }))
  })

  it('absent: the empty state; written: read back, in <dataDir>/core/ with no temp file left', async () => {
    const file = join(dir, 'core', 'state')
    assert.deepEqual(await readState(file), EMPTY_STATE)
    const s: LauncherState = { good: { version: '0.2.0', dir: '/v/0.2.0' }, trying: { version: '0.3.0', dir: '/v/0.3.0', attempts: 1 }, bad: [] }
    await writeState(file, s)
    assert.deepEqual(await readState(file), s)
    assert.deepEqual(await readdir(join(dir, 'core')), ['state'])
    assert.match(await readFile(file, 'utf8'), /^mycel-launcher-state 1 sha256:[0-9a-f]{64}\n\{.*\}\n$/)
  })

  it('damage is named: a truncated file, a wrong checksum, a foreign file, a valid checksum over a bad shape', async () => {
    const file = join(dir, 'state')
    const good = encodeState({ good: { version: '0.2.0', dir: '/v' }, bad: [] })
    const cases: Array<[string, RegExp]> = [
      [good.slice(0, good.length - 5), /cut short/],
      [good.replace('0.2.0', '0.2.1'), /checksum/],
      ['{"good":{}}\n', /unknown header/],
      ['', /unknown header/],
      [good + good, /extra lines/],
      [encodeState({ bad: [] }).replace(/\n.*\n$/, '\n') + '\n', /checksum|cut short/]
    ]
    // A checksum that matches a body of the wrong shape (a buggy or future writer).
    const body = JSON.stringify({ good: { version: '0.2.0', dir: 'relative' }, bad: [] })
    const { createHash } = await import('node:crypto')
    cases.push([`mycel-launcher-state 1 sha256:${createHash('sha256').update(body).digest('hex')}\n${body}\n`, /good.dir is not an absolute path/])
    for (const [text, problem] of cases) {
      await writeFile(file, text)
      await assert.rejects(readState(file), (err: Error) => {
        assert.ok(err instanceof CoreStateCorruptError, err.message)
        assert.match(err.message, problem)
        assert.ok(err.message.startsWith(file))
        assert.match(err.recovery, /remove the file/)
        return true
      })
    }
  })
})
