/** The daemon's version, from package.json (read once at startup). */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

function findPackageJson (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'package.json')
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'mycel' && typeof pkg.version === 'string') return pkg.version
    } catch { /* keep looking upward */ }
    dir = dirname(dir)
  }
  return '0.0.0-unknown'
}

export const VERSION = findPackageJson()
