/** `mycel core pack` (daemon/cli/core.ts): a core build directory that publishes as mycel@X, and its refusals. */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packCore } from '../../daemon/cli/core.js'
import { readManifest } from '../../protocols/artifacts/manifest.js'
import { packDirectory } from '../../protocols/artifacts/archive.js'

describe('mycel core pack', () => {
  let dir: string
  let install: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-core-pack-'))
    install = join(dir, 'install')
    await mkdir(join(install, 'dist', 'daemon'), { recursive: true })
    await mkdir(join(install, 'node_modules', 'dep'), { recursive: true })
    await writeFile(join(install, 'package.json'), JSON.stringify({ name: 'mycel', version: '0.1.0', bin: { mycel: 'dist/daemon/cli.js' } }))
    await writeFile(join(install, 'dist', 'daemon', 'cli.js'), '// cli\n')
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('package.json at the given version, dist/, and a manifest of mycel@X; no node_modules; it packs as an archive', async () => {
    const out = join(dir, 'out')
    await packCore(install, out, '0.2.0')
    assert.deepEqual((await readdir(out)).sort(), ['dist', 'mycel.component.yaml', 'package.json'])
    const pkg = JSON.parse(await readFile(join(out, 'package.json'), 'utf8')) as { name: string, version: string, bin: unknown }
    assert.deepEqual(pkg, { name: 'mycel', version: '0.2.0', bin: { mycel: 'dist/daemon/cli.js' } })
    assert.equal(await readFile(join(out, 'dist', 'daemon', 'cli.js'), 'utf8'), '// cli\n')
    const m = await readManifest(out)
    assert.equal(m.name, 'mycel')
    assert.equal(m.version, '0.2.0')
    for await (const _ of await packDirectory(out)) { /* packs: no symlink or special file in it */ }
  })

  it('refuses a directory that is not empty and a version that is not semver (usage errors, exit 2)', async () => {
    const out = join(dir, 'out')
    await mkdir(out)
    await writeFile(join(out, 'x'), '')
    await assert.rejects(packCore(install, out, '0.2.0'), { name: 'UsageError', message: /is not empty/ })
    await assert.rejects(packCore(install, join(dir, 'other'), 'v2'), { name: 'UsageError', message: /semantic version/ })
  })
})
