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
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'

const ENTRY = 'dist/daemon/cli.js'
// Every output file starts with this. CommonJS dependencies call require()
// for Node's built-ins, and an ES module has no require of its own. And
// Promise.withResolvers (daemon/polyfill.ts: libp2p calls it, Node 20 lacks
// it) must exist before any module's code runs: the entry's `import
// './polyfill.js'` comes first in the source, but the bundle evaluates shared
// chunks before it; the first chunk evaluated, whichever it is, installs it.
const BANNER = "import { createRequire as __mycelCreateRequire } from 'node:module'; const require = __mycelCreateRequire(import.meta.url); " +
  "if (typeof Promise.withResolvers !== 'function') Promise.withResolvers = function () { let resolve, reject; const promise = new Promise((res, rej) => { resolve = res; reject = rej }); return { promise, resolve, reject } };"

/**
 * zod re-exports its 50 locales as `z.locales`, so a bundle carries all of
 * them (375 KB of source in every agent) though mycel's messages are
 * English. The locale index zod imports resolves to English alone, as
 * webpack's IgnorePlugin does for moment's locales: `z.locales.en` still
 * exists, zod's default (it registers `en` itself) is unchanged.
 */
const englishOnlyZod = {
  name: 'zod-english-only',
  setup (b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, args => /[\\/]zod[\\/]/.test(args.importer)
      ? { path: 'zod-locales', namespace: 'mycel-zod-locales', pluginData: { dir: args.resolveDir } }
      : undefined)
    b.onLoad({ filter: /.*/, namespace: 'mycel-zod-locales' }, args => ({
      contents: "export { default as en } from '../locales/en.js'",
      resolveDir: args.pluginData.dir
    }))
  }
}

/**
 * kad-dht picks the random keys of its bucket refreshes from a 65,536-entry
 * table (`generated-prefix-list.js`, 594 KB of source: a fifth of what an
 * agent compiles at its start, and ≈ 1 MB of constants it keeps). mycel turns
 * that refresh off (daemon/dht-membership.ts: membership feeds the table), so
 * the bundle carries in its place a table that names why if it is ever read.
 */
const noKadPrefixTable = {
  name: 'kad-dht-no-prefix-table',
  setup (b) {
    b.onResolve({ filter: /^\.\/generated-prefix-list\.js$/ }, args => {
      if (!/[\\/]@libp2p[\\/]kad-dht[\\/]/.test(args.importer)) return undefined
      // Only the refresh may use it; a kad-dht that reads it elsewhere needs this plugin looked at again.
      if (!/[\\/]routing-table[\\/]refresh\.js$/.test(args.importer)) {
        return { errors: [{ text: `kad-dht imports its prefix table from ${args.importer}, not only from routing-table/refresh.js: the bundle's stand-in (scripts/post-build.mjs) may no longer be safe` }] }
      }
      return { path: 'kad-dht-prefix-table', namespace: 'mycel-kad-prefix-table' }
    })
    b.onLoad({ filter: /.*/, namespace: 'mycel-kad-prefix-table' }, () => ({
      contents: "class KadPrefixTableRemovedError extends Error { name = 'KadPrefixTableRemovedError' }\n" +
        "export default new Proxy([], { get (target, key) { if (typeof key === 'string' && /^[0-9]+$/.test(key)) throw new KadPrefixTableRemovedError('kad-dht bucket refresh is off in mycel (daemon/dht-membership.ts): the bundle has no prefix table'); return Reflect.get(target, key) } })"
    }))
  }
}

// tsc's output ends with its source map line; the bundle has none. Run again
// without tsc in between, the entry is the bundle already: leave it.
const fromTsc = existsSync(ENTRY) && readFileSync(ENTRY, 'utf8').trimEnd().endsWith('//# sourceMappingURL=cli.js.map')
if (fromTsc) {
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
    banner: { js: BANNER },
    plugins: [englishOnlyZod, noKadPrefixTable],
    logLevel: 'warning'
  })
  // tsc's map describes the file the bundle replaced.
  rmSync(`${ENTRY}.map`, { force: true })
  // One byte per character of source in V8's heap (lib/ascii-source.ts).
  const { asciiSource, isAsciiSource } = await import('../dist/lib/ascii-source.js')
  for (const f of bundleFiles()) {
    const text = readFileSync(f, 'utf8')
    if (!isAsciiSource(text)) writeFileSync(f, asciiSource(text))
  }
}

function bundleFiles () {
  return [ENTRY, ...readdirSync('dist/daemon/bundle').filter(f => f.endsWith('.js')).map(f => `dist/daemon/bundle/${f}`)]
}

for (const f of [ENTRY, 'dist/launcher/main.js', 'dist/testground/runner/cli.js']) {
  if (existsSync(f)) chmodSync(f, 0o755)
}
