/**
 * `mycel publisher keygen` / `mycel publisher id` in-process (runCli is what
 * the `mycel` process runs): the key file, the printed publisher id, and the
 * usage errors (exit 2, one line).
 */
import { expect } from 'chai'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { runCli } from '../../daemon/cli/program.js'

/** Run the CLI, capturing stdout (print writes to process.stdout) and the error line. */
async function mycel (...args: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array): boolean => { out += chunk.toString(); return true }) as typeof process.stdout.write
  try {
    const code = await runCli(args, { writeOut: (s) => { out += s }, writeErr: (s) => { err += s } })
    return { code, out, err }
  } finally {
    process.stdout.write = write
  }
}

describe('mycel publisher', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'mycel-publisher-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  it('keygen writes a 0600 key and prints its id; id prints the same; --json names the file', async () => {
    const key = join(dir, 'keys', 'publisher.key')
    const made = await mycel('publisher', 'keygen', '--out', key)
    expect(made.code).to.equal(0)
    const id = made.out.trim()
    expect(peerIdFromString(id).type).to.equal('Ed25519')
    expect(statSync(key).mode & 0o777).to.equal(0o600)
    expect((await mycel('publisher', 'id', '--key', key)).out.trim()).to.equal(id)
    expect(JSON.parse((await mycel('publisher', 'id', '--key', key, '--json')).out)).to.deep.equal({ publisherId: id, key })
  })

  it('refuses to replace a key without --force (exit 2, one line); --force makes a new id', async () => {
    const key = join(dir, 'publisher.key')
    const first = (await mycel('publisher', 'keygen', '--out', key)).out.trim()
    const again = await mycel('publisher', 'keygen', '--out', key)
    expect(again.code).to.equal(2)
    expect(again.err).to.match(/^mycel: a publisher key already exists at .*publisher\.key; pass --force to replace it\n$/)
    expect((await mycel('publisher', 'id', '--key', key)).out.trim()).to.equal(first)
    const forced = await mycel('publisher', 'keygen', '--out', key, '--force')
    expect(forced.code).to.equal(0)
    expect(forced.out.trim()).to.not.equal(first)
  })

  it('a missing, damaged or absent key file is a clear error, never a new key', async () => {
    const missing = await mycel('publisher', 'id', '--key', join(dir, 'none.key'))
    expect(missing.code).to.equal(2)
    expect(missing.err).to.match(/^mycel: no publisher key at .*none\.key; create one with `mycel publisher keygen --out .*`\n$/)
    const bad = join(dir, 'bad.key')
    writeFileSync(bad, 'not a key')
    const damaged = await mycel('publisher', 'id', '--key', bad)
    expect(damaged.code).to.equal(2)
    expect(damaged.err).to.match(/^mycel: .*bad\.key: publisher key does not decode: [^\n]*\n$/)
    const usage = await mycel('publisher', 'keygen')
    expect(usage.code).to.equal(2)
    expect(usage.err).to.match(/--out/)
  })
})
