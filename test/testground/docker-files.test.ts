/**
 * The files real testground builds from, checked without Docker (this machine has no Docker daemon):
 * testground/docker/Dockerfile.base must copy every folder tsconfig.json compiles, the root
 * .dockerignore must keep the big folders out of its build context without hiding a copied one, and no
 * plan carries a .dockerignore: testground's builders send the build context from the directory that
 * holds the plan under plan/ (pkg/docker/image.go `BuildImage`), so Docker only reads a .dockerignore
 * at that root; one inside the plan is never read (.testgroundignore is what filters the plan upload).
 */
import { strict as assert } from 'node:assert'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { readFile, readdir, access } from 'node:fs/promises'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = async (p: string): Promise<string> => await readFile(join(root, p), 'utf8')

/** `COPY <src> <dst>` sources of a Dockerfile (one source per line, as Dockerfile.base writes them). */
function copySources (dockerfile: string): string[] {
  return dockerfile.split('\n').filter(l => /^COPY\s/.test(l)).flatMap(l => l.trim().split(/\s+/).slice(1, -1))
}

/** The folder of each tsconfig "include" glob: `lib/**\/*.ts` → `lib`. */
function includedFolders (tsconfig: { include: string[] }): string[] {
  return tsconfig.include.map(g => g.split('/**')[0])
}

/** Patterns of a .dockerignore, comments and blank lines dropped. */
function ignorePatterns (text: string): string[] {
  return text.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
}

/** Whether a .dockerignore pattern (no wildcards but a leading `**\/`) matches the path or a parent. */
function ignores (pattern: string, path: string): boolean {
  const parts = path.split('/')
  if (pattern.startsWith('**/')) return parts.includes(pattern.slice(3))
  return parts.some((_, i) => parts.slice(0, i + 1).join('/') === pattern)
}

describe('testground docker files', () => {
  it('Dockerfile.base copies every folder tsconfig.json compiles, and what the build step runs', async () => {
    const sources = copySources(await read('testground/docker/Dockerfile.base'))
    const tsconfig = JSON.parse(await read('tsconfig.json')) as { include: string[] }
    for (const f of [...includedFolders(tsconfig), 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts']) {
      assert.ok(sources.includes(f), `Dockerfile.base does not COPY ${f}; the image's tsc would fail`)
    }
    for (const s of sources) await access(join(root, s))
  })

  it('the root .dockerignore keeps node_modules, dist, .git and run outputs out, and nothing Dockerfile.base copies', async () => {
    const patterns = ignorePatterns(await read('.dockerignore'))
    for (const big of ['node_modules', 'testground/plans/mycel/node_modules', 'dist', '.git', '.testground-runs']) {
      assert.ok(patterns.some(p => ignores(p, big)), `.dockerignore does not exclude ${big}`)
    }
    for (const s of copySources(await read('testground/docker/Dockerfile.base'))) {
      assert.ok(!patterns.some(p => ignores(p, s)), `.dockerignore hides ${s}, which Dockerfile.base copies`)
    }
  })

  it('no plan carries a .dockerignore (never read: the build context root is above the plan)', async () => {
    for (const plan of await readdir(join(root, 'testground', 'plans'))) {
      await assert.rejects(access(join(root, 'testground', 'plans', plan, '.dockerignore')), `testground/plans/${plan}/.dockerignore`)
    }
  })
})
