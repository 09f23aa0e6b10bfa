/**
 * `mycel agent` started from V8's code cache.
 *
 * Loading its code is most of what an agent's start costs: V8 parsing and
 * compiling the ≈ 4 MB bundle, then evaluating its modules (0.55 of a lone
 * start's 0.69 s of CPU on the 2-core VM; docs/performance.md, twenty-first
 * pass). Node 20 gives V8 a code cache only for a script (node:vm's `Script`
 * with `cachedData`), not for ES modules, so the build also writes the agent
 * as one CommonJS bundle and runs it once to record what V8 compiled
 * (scripts/post-build.mjs). A start here hands V8 that record instead of
 * having it parse and compile the source again.
 *
 * Used only when it can be right:
 * - made by this node (version and architecture) for this bundle: the
 *   bundle's name carries a hash of its content and the cache's name the
 *   bundle's, because V8 checks a cache against its script's length only;
 * - V8 itself refuses a cache made under other V8 flags (an agent started
 *   without the bin's flags): the bundle is then compiled as usual, state
 *   `rejected`.
 * Otherwise `mycel agent` loads the ES module bundle like every other
 * command. `mycel_process_code_cache_info{state}` says which happened.
 *
 * This module is part of the `mycel` entry every command loads: Node's
 * built-ins only, no schema library, and nothing else imports it (its
 * bundle directory is found from its own file).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'
import { setCodeCacheState, type CodeCacheState } from './code-cache-state.js'

/** The build's record of the agent's CommonJS bundle and its cache, in the bundle directory. */
export const CODE_CACHE_MANIFEST = 'agent-code-cache.json'

/**
 * Set only by the build's recording run (scripts/post-build.mjs): load the
 * bundle without a cache and write V8's cache of it to this path at exit.
 */
export const CODE_CACHE_OUT_ENV = 'MYCEL_CODE_CACHE_OUT'

export interface CodeCacheManifest {
  /** The CommonJS bundle, `agent-<content hash>.cjs`. */
  bundle: string
  /** Its V8 code cache; absent until the build's recording run wrote one. */
  cache?: string
  /** `process.version` and `process.arch` of the node that recorded it. */
  node: string
  arch: string
}

// One file name, no directories: the manifest only ever names files beside it.
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export class CodeCacheManifestError extends Error {
  override name = 'CodeCacheManifestError'
}

/** The manifest in `dir`, undefined if there is none (a build without the bundle: tsc's output, the tests). */
export function readCodeCacheManifest (dir: string): CodeCacheManifest | undefined {
  let text: string
  try {
    text = readFileSync(join(dir, CODE_CACHE_MANIFEST), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const where = join(dir, CODE_CACHE_MANIFEST)
  let m: unknown
  try {
    m = JSON.parse(text)
  } catch (err) {
    throw new CodeCacheManifestError(`${where}: not JSON (${(err as Error).message})`)
  }
  if (typeof m !== 'object' || m === null) throw new CodeCacheManifestError(`${where}: not an object`)
  const r = m as Record<string, unknown>
  const name = (key: string, optional = false): string | undefined => {
    const v = r[key]
    if (v === undefined && optional) return undefined
    if (typeof v !== 'string' || !FILE_NAME.test(v)) throw new CodeCacheManifestError(`${where}: "${key}" must be a file name, got ${JSON.stringify(v)}`)
    return v
  }
  for (const key of ['node', 'arch']) {
    if (typeof r[key] !== 'string' || r[key] === '') throw new CodeCacheManifestError(`${where}: "${key}" must be a non-empty string`)
  }
  const cache = name('cache', true)
  return { bundle: name('bundle') as string, ...(cache !== undefined ? { cache } : {}), node: r.node as string, arch: r.arch as string }
}

const BUNDLE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bundle')

/**
 * Runs `mycel <argv>` from the agent's CommonJS bundle in `dir` if argv is
 * `agent …` and the build left a cache this node can use (or this is the
 * recording run); false if the caller should load the ES modules instead. A
 * manifest that names missing files or is not the build's is an install
 * broken by hand: said on stderr once, and the ES modules load.
 */
export function startFromCodeCache (argv: readonly string[], dir: string = BUNDLE_DIR, env: NodeJS.ProcessEnv = process.env): boolean {
  if (argv[0] !== 'agent') return false
  const out = env[CODE_CACHE_OUT_ENV]
  let manifest: CodeCacheManifest | undefined
  let source: string
  let cachedData: Buffer | undefined
  try {
    manifest = readCodeCacheManifest(dir)
    if (manifest === undefined) return false
    if (out === undefined) {
      if (manifest.cache === undefined || manifest.node !== process.version || manifest.arch !== process.arch) return false
      cachedData = readFileSync(join(dir, manifest.cache))
    }
    // The build writes the bundle ASCII-only (lib/ascii-source.ts): latin1 reads it exactly, and fastest.
    source = readFileSync(join(dir, manifest.bundle), 'latin1')
  } catch (err) {
    process.stderr.write(`mycel: not starting from the code cache: ${(err as Error).message}\n`)
    return false
  }
  const file = join(dir, manifest.bundle)
  // Node's own CommonJS wrapper, on the script's first line so that line numbers stay the bundle's.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData !== undefined ? { cachedData } : {})
  })
  const state: CodeCacheState = out !== undefined ? 'recording' : script.cachedDataRejected === true ? 'rejected' : 'accepted'
  setCodeCacheState(state)
  if (out !== undefined) {
    // At exit V8's cache holds every function the run compiled: the start, the agent at rest, the stop.
    process.once('exit', () => {
      writeFileSync(`${out}.tmp`, script.createCachedData())
      renameSync(`${out}.tmp`, out)
    })
  }
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void
  const module = { exports: {} }
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dir)
  return true
}
