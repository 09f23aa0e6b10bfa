/**
 * After tsc: bundle the `mycel` command, then set the bins' executable bit
 * (tsc does not keep it).
 *
 * `dist/daemon/cli.js` — what the bin, the launcher, `core pack`, the
 * harness and testground run — becomes one esbuild bundle of the CLI and every
 * dependency: its entry at that path, the code it loads on demand (the CLI's
 * command groups, the agent, the OTLP exporter) in chunks under
 * `dist/daemon/bundle/`. Node then reads a handful of files instead of
 * resolving and compiling ~1,500 modules: an agent is ready for about half
 * the CPU (docs/performance.md "Starting an agent"). The rest of dist/ stays
 * tsc's module-per-file output, which the tests and benches import.
 */
import { build } from 'esbuild'
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs'

const ENTRY = 'dist/daemon/cli.js'
const BANNER = "import { createRequire as __mycelCreateRequire } from 'node:module'; const require = __mycelCreateRequire(import.meta.url);"
// Run again without tsc in between, the entry is the bundle already: leave it.
if (existsSync(ENTRY) && !readFileSync(ENTRY, 'utf8').includes(BANNER)) {
  rmSync('dist/daemon/bundle', { recursive: true, force: true })
  await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    splitting: true,
    outdir: 'dist/daemon',
    entryNames: '[name]',
    chunkNames: 'bundle/[name]-[hash]',
    // The entry is tsc's output at the same path: written once it is read.
    allowOverwrite: true,
    // Class and function names stay: errors are told apart by name, and stacks stay readable.
    keepNames: true,
    // CommonJS dependencies call require() for Node's built-ins; an ES module has no require of its own.
    banner: { js: BANNER },
    logLevel: 'warning'
  })
}
for (const f of [ENTRY, 'dist/launcher/main.js', 'dist/testground/runner/cli.js']) {
  if (existsSync(f)) chmodSync(f, 0o755)
}
