/**
 * `npm run bench [-- NAME ...]`: runs each benchmark script (dist/bench/*.js)
 * in its own process, one after another, so they never share the machine.
 * Each writes bench/results/<name>.json. With no names, runs them all.
 */
import '../daemon/polyfill.js'
import { readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { dirname, join, basename } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const all = readdirSync(here).filter(f => f.endsWith('.js') && f !== 'run.js').map(f => basename(f, '.js')).sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter(w => !all.includes(w))
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}\n`)
  process.exit(2)
}
let failed = 0
for (const name of wanted.length > 0 ? wanted : all) {
  process.stdout.write(`\n=== bench ${name} ===\n`)
  const r = spawnSync(process.execPath, [join(here, `${name}.js`)], { stdio: 'inherit' })
  if (r.status !== 0) { failed++; process.stdout.write(`bench ${name} failed (exit ${r.status})\n`) }
}
process.exit(failed > 0 ? 1 : 0)
