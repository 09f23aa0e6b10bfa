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
 * - made by this node (version, V8, platform, architecture);
 * - for this bundle: V8 checks a cache against its script's length only, so
 *   the bundle's name carries a hash of its content and the cache's name is
 *   the bundle's plus the node's; a manifest that pairs them otherwise is
 *   refused. (The hash itself is not recomputed at each start, a fifth of
 *   what the cache saves: never edit the bundle in place, rebuild.)
 * - V8 itself refuses a cache made under other V8 flags (an agent started
 *   without the bin's flags, or with some in NODE_OPTIONS): the bundle is then
 *   compiled as usual, state `rejected`.
 * Otherwise `mycel agent` loads the ES module bundle like every other
 * command. `mycel_process_code_cache_info{state}` says which happened
 * (code-cache-state.ts).
 *
 * This module is part of the `mycel` entry every command loads: Node's
 * built-ins only, no schema library.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Script } from 'node:vm'
import { setCodeCacheState, type CodeCacheState } from './code-cache-state.js'

/** The build's record of the agent's CommonJS bundle and its cache, in the bundle directory. */
export const CODE_CACHE_MANIFEST = 'agent-code-cache.json'

/**
 * Set only by the build's recording run (scripts/post-build.mjs): load the
 * bundle without a cache and write V8's cache of it to this path at exit.
 */
export const CODE_CACHE_OUT_ENV = 'MYCEL_CODE_CACHE_OUT'

/** The node a cache is for: V8 refuses another's, and so do we, before reading it. */
export interface CodeCacheNode {
  node: string
  v8: string
  platform: string
  arch: string
}

export interface CodeCacheManifest extends CodeCacheNode {
  /** The CommonJS bundle, `agent-<content hash>.cjs`. */
  bundle: string
  /** Its V8 code cache, `codeCacheFileName(…)`; absent if the build's recording failed. */
  cache?: string
  /** The node flags it was recorded under (for a `rejected` state's post-mortem; V8 checks them itself). */
  flags: string[]
}

export function thisNode (): CodeCacheNode {
  return { node: process.version, v8: process.versions.v8, platform: process.platform, arch: process.arch }
}

/** The only name a cache of `bundle` made by `node` may have. */
export function codeCacheFileName (bundle: string, node: CodeCacheNode): string {
  return `${bundle}.${node.node}-${node.platform}-${node.arch}.cache`
}

// One file name, no directories: the manifest only ever names files beside it.
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export class CodeCacheManifestError extends Error {
  override name = 'CodeCacheManifestError'
}

/** The manifest in `dir`, undefined if there is none (a build without the bundle: tsc's output, the tests). */
export function readCodeCacheManifest (dir: string): CodeCacheManifest | undefined {
  const where = join(dir, CODE_CACHE_MANIFEST)
  let text: string
  try {
    text = readFileSync(where, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let m: unknown
  try {
    m = JSON.parse(text)
  } catch (err) {
    throw new CodeCacheManifestError(`${where}: not JSON (${(err as Error).message})`)
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CodeCacheManifestError(`${where}: not an object`)
  const r = m as Record<string, unknown>
  const text1 = (key: string): string => {
    const v = r[key]
    if (typeof v !== 'string' || v === '') throw new CodeCacheManifestError(`${where}: "${key}" must be a non-empty string, got ${JSON.stringify(v)}`)
    return v
  }
  const bundle = text1('bundle')
  if (!FILE_NAME.test(bundle)) throw new CodeCacheManifestError(`${where}: "bundle" must be a file name, got ${JSON.stringify(bundle)}`)
  const node: CodeCacheNode = { node: text1('node'), v8: text1('v8'), platform: text1('platform'), arch: text1('arch') }
  const flags = r.flags
  if (!Array.isArray(flags) || !flags.every(f => typeof f === 'string')) throw new CodeCacheManifestError(`${where}: "flags" must be a list of strings`)
  if (r.cache !== undefined && (r.cache !== codeCacheFileName(bundle, node) || !FILE_NAME.test(r.cache))) {
    throw new CodeCacheManifestError(`${where}: "cache" must be ${JSON.stringify(codeCacheFileName(bundle, node))} (the bundle's name and the node's), got ${JSON.stringify(r.cache)}`)
  }
  return { bundle, ...(r.cache !== undefined ? { cache: r.cache as string } : {}), ...node, flags: flags as string[] }
}

/**
 * Runs `mycel <argv>` from the agent's CommonJS bundle in `dir` (the entry's
 * `bundle/` directory) if argv is `agent …` and the build left a cache this
 * node can use, or this is the recording run; false if the caller should load
 * the ES modules instead. A manifest that cannot be read or names files that
 * are not there is an install broken by hand: said on stderr once, and the ES
 * modules load.
 */
export function startFromCodeCache (argv: readonly string[], dir: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (argv[0] !== 'agent') return false
  const out = env[CODE_CACHE_OUT_ENV] !== '' ? env[CODE_CACHE_OUT_ENV] : undefined
  let manifest: CodeCacheManifest | undefined
  let source: string
  let cachedData: Buffer | undefined
  try {
    manifest = readCodeCacheManifest(dir)
    if (manifest === undefined) return false
    if (out === undefined) {
      const here = thisNode()
      if (manifest.node !== here.node || manifest.v8 !== here.v8 || manifest.platform !== here.platform || manifest.arch !== here.arch) {
        setCodeCacheState('other-node')
        return false
      }
      if (manifest.cache === undefined) {
        setCodeCacheState('no-cache')
        return false
      }
      cachedData = readFileSync(join(dir, manifest.cache))
    }
    // The build writes the bundle ASCII-only (lib/ascii-source.ts): latin1 reads it exactly, and fastest.
    source = readFileSync(join(dir, manifest.bundle), 'latin1')
  } catch (err) {
    setCodeCacheState('broken')
    process.stderr.write(`mycel: not starting from the code cache: ${(err as Error).message}\n`)
    return false
  }
  const file = join(dir, manifest.bundle)
  const script = compileBundle(file, source, cachedData)
  const state: CodeCacheState = out !== undefined ? 'recording' : script.cachedDataRejected === true ? 'rejected' : 'accepted'
  setCodeCacheState(state)
  if (out !== undefined) {
    // At exit V8's cache holds every function the run compiled: the start, the agent at rest, the stop.
    process.once('exit', () => {
      const tmp = `${out}.${process.pid}.tmp`
      writeFileSync(tmp, script.createCachedData())
      renameSync(tmp, out)
    })
  }
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void
  const module = { exports: {} }
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dir)
  return true
}

/**
 * The bundle as V8 compiles it, with `cachedData` if given (`cachedDataRejected`
 * then says whether V8 took it): Node's own CommonJS wrapper, on the script's
 * first line so that line numbers stay the bundle's, and strict as the ES
 * modules are, whatever the bundle's first statement. The build checks its
 * recording with this same function.
 */
export function compileBundle (file: string, source: string, cachedData?: Buffer): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) {'use strict';${source}\n})`, {
    filename: file,
    ...(cachedData !== undefined ? { cachedData } : {})
  })
}
