/** The daemon's version, from package.json (read once at startup), and the install it runs from. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

function findPackageJson (): { version: string, root: string } {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json')
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'mycel' && typeof pkg.version === 'string') return { version: pkg.version, root: dir }
    } catch { /* keep looking upward */ }
    dir = dirname(dir)
  }
  return { version: '0.0.0-unknown', root: join(dirname(fileURLToPath(import.meta.url)), '..', '..') }
}

const found = findPackageJson()

export const VERSION = found.version

/** The directory of the running build's package.json: the install, or a core build under <dataDir>/components/mycel/ (docs/core-update.md). */
export const INSTALL_ROOT = found.root
