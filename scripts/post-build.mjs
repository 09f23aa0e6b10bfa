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
 * the CPU (docs/performance.md "Starting an agent"). `mycel agent` loads the
 * same code as one CommonJS bundle with V8's code cache of it, recorded here
 * by one start of a lone agent (daemon/code-cache.ts). The rest of dist/ stays
 * tsc's module-per-file output, which the tests and benches import.
 */
import { build } from 'esbuild'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

const ENTRY = 'dist/daemon/cli.js'
// Every output file starts with this. CommonJS dependencies call require()
// for Node's built-ins, and an ES module has no require of its own. And
// Promise.withResolvers (daemon/polyfill.ts: libp2p calls it, Node 20 lacks
// it) must exist before any module's code runs: the entry's `import
// './polyfill.js'` comes first in the source, but the bundle evaluates shared
// chunks before it; the first chunk evaluated, whichever it is, installs it.
const POLYFILL = "if (typeof Promise.withResolvers !== 'function') Promise.withResolvers = function () { let resolve, reject; const promise = new Promise((res, rej) => { resolve = res; reject = rej }); return { promise, resolve, reject } };"
const BANNER = "import { createRequire as __mycelCreateRequire } from 'node:module'; const require = __mycelCreateRequire(import.meta.url); " + POLYFILL
// The agent's CommonJS bundle has require and __filename of its own; import.meta.url (daemon/version.ts) becomes this.
const CJS_BANNER = "const __mycelImportMetaUrl = require('node:url').pathToFileURL(__filename).href; " + POLYFILL

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
  await agentCodeCache(asciiSource, isAsciiSource)
}

/**
 * The agent as one CommonJS bundle, and V8's code cache of it recorded by
 * one start of a lone agent (daemon/code-cache.ts): `mycel agent` then skips
 * parsing and compiling what it runs. A recording that fails leaves the
 * manifest without a cache, and agents load the ES modules as before; the
 * build goes on, saying so.
 */
async function agentCodeCache (asciiSource, isAsciiSource) {
  const dir = 'dist/daemon/bundle'
  const { CODE_CACHE_MANIFEST, codeCacheFileName, thisNode } = await import('../dist/daemon/code-cache.js')
  const { AGENT_NODE_FLAGS } = await import('../dist/launcher/node-flags.js')
  const result = await build({
    entryPoints: ['dist/daemon/cli-agent.js'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // A script run by node:vm has no dynamic import() (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING): the OTLP
    // exporter's import('http') becomes a require.
    supported: { 'dynamic-import': false },
    write: false,
    outfile: `${dir}/agent.cjs`,
    keepNames: true,
    define: { 'import.meta.url': '__mycelImportMetaUrl' },
    banner: { js: CJS_BANNER },
    plugins: [englishOnlyZod, noKadPrefixTable],
    logLevel: 'warning'
  })
  let text = result.outputFiles[0].text
  if (!isAsciiSource(text)) text = asciiSource(text)
  // Each build's bundle its own name, and so its cache's: a cache of another build never pairs with it (the cache
  // also carries its bundle's CRC-32, checked at each start).
  const bundle = `agent-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.cjs`
  writeFileSync(`${dir}/${bundle}`, text)
  const manifest = { bundle, ...thisNode(), flags: [...AGENT_NODE_FLAGS] }
  const writeManifest = (m) => { writeFileSync(`${dir}/${CODE_CACHE_MANIFEST}`, JSON.stringify(m, null, 2) + '\n') }
  // Without a cache first: the recording run loads the bundle it names.
  writeManifest(manifest)
  const cache = codeCacheFileName(bundle, thisNode())
  try {
    await recordCodeCache(resolve(dir, cache))
    writeManifest({ ...manifest, cache })
    await checkCodeCache(dir, AGENT_NODE_FLAGS)
  } catch (err) {
    writeManifest(manifest)
    rmSync(`${dir}/${cache}`, { force: true })
    console.warn(`post-build: no code cache for the agent (it will load its ES modules; see daemon/code-cache.ts): ${err.message}`)
  }
}

/**
 * Starts a lone agent from the CommonJS bundle (the harness's agent process:
 * the bin's node flags from its #! line) and stops it once it is up; V8's
 * cache is written at its exit. NODE_OPTIONS is emptied: V8 refuses a cache
 * made under other V8 flags than the agents'.
 */
async function recordCodeCache (out) {
  const { CODE_CACHE_OUT_ENV } = await import('../dist/daemon/code-cache.js')
  const { AgentProcess } = await import('../dist/harness/agent-process.js')
  const agent = await AgentProcess.start({ cli: resolve(ENTRY), profile: 'lan', logLevel: 'warn', env: { [CODE_CACHE_OUT_ENV]: out, NODE_OPTIONS: '' } })
  try {
    const code = await agent.stop()
    if (!existsSync(out)) throw new Error(`the agent ended (exit ${code}) without writing ${out}: ${agent.stderr.trim().split('\n').pop() ?? ''}`)
  } finally {
    await agent.cleanup()
    // A recording killed while writing leaves its temporary file (lib/durable-file.ts: <out>.tmp-<pid>).
    for (const f of readdirSync(dirname(out))) if (f.startsWith(`${basename(out)}.tmp-`)) rmSync(resolve(dirname(out), f), { force: true })
  }
}

/** V8 takes the cache under the bin's flags, read as code-cache.ts reads it; or the build says it will not. */
async function checkCodeCache (dir, flags) {
  const script = `import { compileBundle, readAgentBundle, readCodeCacheManifest } from ${JSON.stringify(new URL('../dist/daemon/code-cache.js', import.meta.url).href)}
const b = readAgentBundle(${JSON.stringify(dir)}, readCodeCacheManifest(${JSON.stringify(dir)}), true)
process.stdout.write(String(compileBundle(b.file, b.source, b.cachedData).cachedDataRejected))`
  const rejected = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.once('error', reject)
    child.once('exit', (code) => { code === 0 ? resolve(out.trim()) : reject(new Error(`the check of the cache exited with ${code}`)) })
  })
  if (rejected !== 'false') throw new Error(`V8 refuses the cache it recorded (cachedDataRejected: ${rejected})`)
}

function bundleFiles () {
  return [ENTRY, ...readdirSync('dist/daemon/bundle').filter(f => f.endsWith('.js')).map(f => `dist/daemon/bundle/${f}`)]
}

for (const f of [ENTRY, 'dist/launcher/main.js', 'dist/testground/runner/cli.js']) {
  if (existsSync(f)) chmodSync(f, 0o755)
}
