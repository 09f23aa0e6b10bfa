/** Component archives: the same directory packs to the same bytes; every hostile archive is refused and leaves nothing behind. */
import { expect } from 'chai'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import tar from 'tar-stream'
import { packDirectory, unpackArchive } from '../../../protocols/artifacts/archive.js'
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from '../../../protocols/artifacts/constants.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const c of source) chunks.push(c)
  return Buffer.concat(chunks)
}

type Entry = tar.Header extends infer H ? Partial<H> & { name: string, body?: string | Buffer } : never

/** A tar built by hand, with whatever headers a hostile publisher likes. */
async function hostile (entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack()
  const out = collect(pack as AsyncIterable<Uint8Array>)
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => { if (err == null) resolve(); else reject(err) }
      if (body !== undefined) pack.entry(header, body, cb)
      else pack.entry(header, cb).end(undefined)
    })
  }
  pack.finalize()
  return await out
}

async function errorName (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return (err as Error).name }
  return 'none'
}

describe('component archive', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-archive-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('packs and unpacks a directory: files, contents, modes, empty directories', async () => {
    const src = join(dir, 'src')
    await mkdir(join(src, 'bin'), { recursive: true })
    await mkdir(join(src, 'empty'))
    await writeFile(join(src, 'bin', 'run'), '#!/bin/sh\necho ok\n', { mode: 0o700 })
    await writeFile(join(src, 'data.txt'), 'hello', { mode: 0o600 })
    await writeFile(join(src, `${'n'.repeat(180)}.txt`), Buffer.alloc(70_000, 1))
    const out = join(dir, 'components', 'web', '1.0.0')
    const result = await unpackArchive(await packDirectory(src), out)
    expect(result).to.deep.equal({ entries: 5, bytes: 18 + 5 + 70_000 })
    expect((await readdir(out)).sort()).to.deep.equal(['bin', 'data.txt', 'empty', `${'n'.repeat(180)}.txt`].sort())
    expect(await readFile(join(out, 'data.txt'), 'utf8')).to.equal('hello')
    expect((await stat(join(out, 'bin', 'run'))).mode & 0o777).to.equal(0o755)
    expect((await stat(join(out, 'data.txt'))).mode & 0o777).to.equal(0o644)
    // The root too (mkdtemp makes 0700): a component user other than the agent's enters it.
    expect((await stat(out)).mode & 0o777).to.equal(0o755)
    expect(await readdir(join(dir, 'components', 'web'))).to.deep.equal(['1.0.0'])
  })

  it('refuses to pack a symlink, even one that stays inside', async () => {
    const src = join(dir, 'src')
    await mkdir(src)
    await writeFile(join(src, 'a'), 'x')
    await symlink('a', join(src, 'b'))
    expect(await errorName(packDirectory(src))).to.equal('PackError')
  })

  it('refuses to pack past a limit', async () => {
    const src = join(dir, 'src')
    await mkdir(src)
    await writeFile(join(src, 'a'), 'xxxx')
    await writeFile(join(src, 'b'), 'yyyy')
    const limits = (l: Partial<ArchiveLimits>): ArchiveLimits => ({ ...DEFAULT_ARCHIVE_LIMITS, ...l })
    expect(await errorName(packDirectory(src, limits({ maxEntryBytes: 3 })))).to.equal('PackError')
    expect(await errorName(packDirectory(src, limits({ maxTotalBytes: 7 })))).to.equal('PackError')
    expect(await errorName(packDirectory(src, limits({ maxEntries: 1 })))).to.equal('PackError')
  })

  it('refuses a target that exists (never merges into a version directory)', async () => {
    const src = join(dir, 'src')
    await mkdir(src)
    await writeFile(join(src, 'a'), 'x')
    await mkdir(join(dir, 'out'))
    expect(await errorName(unpackArchive(await collect(await packDirectory(src)), join(dir, 'out')))).to.equal('UnpackTargetExistsError')
  })

  describe('refuses every hostile archive and leaves nothing behind', () => {
    const small: ArchiveLimits = { maxEntryBytes: 1024, maxTotalBytes: 1500, maxEntries: 4, maxPathBytes: 64 }
    const cases: Array<{ what: string, error: string, entries: Entry[], limits?: ArchiveLimits }> = [
      { what: '../ escaping the target', error: 'UnsafePathError', entries: [{ name: 'ok', body: 'x' }, { name: '../escaped', body: 'x' }] },
      { what: '.. in the middle of a path', error: 'UnsafePathError', entries: [{ name: 'a/../../escaped', body: 'x' }] },
      { what: 'an absolute path', error: 'UnsafePathError', entries: [{ name: '/tmp/mycel-escaped', body: 'x' }] },
      { what: 'a "." segment', error: 'UnsafePathError', entries: [{ name: './a', body: 'x' }] },
      { what: 'a path given twice (overwrite)', error: 'UnsafePathError', entries: [{ name: 'a', body: 'x' }, { name: 'a', body: 'y' }] },
      { what: 'a symlink pointing outside', error: 'UnsupportedEntryError', entries: [{ name: 'out', type: 'symlink', linkname: '/etc' }] },
      { what: 'a symlink pointing outside by ..', error: 'UnsupportedEntryError', entries: [{ name: 'out', type: 'symlink', linkname: '../../..' }] },
      {
        what: 'a write through an earlier symlinked directory',
        error: 'UnsupportedEntryError',
        entries: [{ name: 'd', type: 'symlink', linkname: '.' }, { name: 'd/../../escaped', body: 'x' }]
      },
      {
        what: 'a file through an earlier symlink to an outside directory',
        error: 'UnsupportedEntryError',
        entries: [{ name: 'etc', type: 'symlink', linkname: '/tmp' }, { name: 'etc/mycel-escaped', body: 'x' }]
      },
      { what: 'a hard link', error: 'UnsupportedEntryError', entries: [{ name: 'a', body: 'x' }, { name: 'b', type: 'link', linkname: 'a' }] },
      { what: 'a hard link to a file outside', error: 'UnsupportedEntryError', entries: [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }] },
      { what: 'a character device', error: 'UnsupportedEntryError', entries: [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }] },
      { what: 'a block device', error: 'UnsupportedEntryError', entries: [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }] },
      { what: 'a fifo', error: 'UnsupportedEntryError', entries: [{ name: 'pipe', type: 'fifo' }] },
      { what: 'an entry over the size limit', error: 'ArchiveTooLargeError', entries: [{ name: 'big', body: Buffer.alloc(1025) }], limits: small },
      {
        what: 'a total over the size limit',
        error: 'ArchiveTooLargeError',
        entries: [{ name: 'a', body: Buffer.alloc(1000) }, { name: 'b', body: Buffer.alloc(1000) }],
        limits: small
      },
      { what: 'too many entries', error: 'ArchiveTooLargeError', entries: ['a', 'b', 'c', 'd', 'e'].map(name => ({ name, body: 'x' })), limits: small },
      { what: 'a path over the length limit', error: 'UnsafePathError', entries: [{ name: 'p'.repeat(65), body: 'x' }], limits: small },
      { what: 'a file where a directory is', error: 'MalformedArchiveError', entries: [{ name: 'a', body: 'x' }, { name: 'a/b', body: 'y' }] }
    ]
    for (const c of cases) {
      it(c.what, async () => {
        const parent = join(dir, 'components', 'web')
        const archive = await hostile(c.entries)
        expect(await errorName(unpackArchive(archive, join(parent, '1.0.0'), c.limits))).to.equal(c.error)
        expect(await readdir(parent)).to.deep.equal([])
        expect(await readdir(dir)).to.deep.equal(['components'])
        expect(await stat('/tmp/mycel-escaped').then(() => true, () => false)).to.equal(false)
      })
    }

    it('a truncated archive (MalformedArchiveError)', async () => {
      const archive = await hostile([{ name: 'a', body: Buffer.alloc(5000) }])
      const parent = join(dir, 'c')
      expect(await errorName(unpackArchive(archive.subarray(0, 3000), join(parent, 'v')))).to.equal('MalformedArchiveError')
      expect(await readdir(parent)).to.deep.equal([])
    })

    it('an archive whose header is garbage (MalformedArchiveError)', async () => {
      const parent = join(dir, 'c')
      expect(await errorName(unpackArchive(Buffer.alloc(1024, 0x41), join(parent, 'v')))).to.equal('MalformedArchiveError')
      expect(await readdir(parent)).to.deep.equal([])
    })
  })

  it('the same tree packs to the same bytes, whatever the mtimes, modes beyond x, and creation order (property)', async () => {
    const segment = fc.stringMatching(/^[a-zA-Z0-9_.-]{1,12}$/).filter(s => s !== '.' && s !== '..')
    const tree = fc.uniqueArray(
      fc.record({ path: fc.array(segment, { minLength: 1, maxLength: 3 }), body: fc.uint8Array({ maxLength: 600 }), exec: fc.boolean() }),
      { minLength: 1, maxLength: 8, selector: f => f.path.join('/') }
    ).filter(files => {
      // No file may also be a directory of another.
      const paths = files.map(f => f.path.join('/'))
      return !paths.some(p => paths.some(q => q.startsWith(`${p}/`)))
    })
    let run = 0
    await fc.assert(fc.asyncProperty(tree, fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (files, mtime, seed) => {
      const packs: Buffer[] = []
      for (const variant of [0, 1]) {
        const root = join(dir, `t${run++}`)
        const order = variant === 0 ? files : [...files].sort(() => (seed & 1) === 0 ? -1 : 1).reverse()
        for (const f of order) {
          const path = join(root, ...f.path)
          await mkdir(join(path, '..'), { recursive: true })
          await writeFile(path, f.body)
          // Different modes with the same x-ness, and different times.
          await chmod(path, f.exec ? (variant === 0 ? 0o700 : 0o755) : (variant === 0 ? 0o600 : 0o664))
          await utimes(path, mtime + variant * 1000, mtime + variant * 1000)
        }
        packs.push(await collect(await packDirectory(root)))
      }
      expect(packs[0]?.equals(packs[1] as Buffer)).to.equal(true)
    }), { numRuns: Math.min(PROPERTY_RUNS, 60) })
  })
})
