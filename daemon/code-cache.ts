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
 * - made by this node (version, V8, platform, architecture), named so in the
 *   manifest and in the cache's file name;
 * - for these bytes of the bundle: V8 checks a cache against its script's
 *   length only, and would run stale bytecode for a bundle edited in place.
 *   The cache is a sealed file (lib/sealed-file.ts: a CRC-32 over it) whose
 *   payload starts with the CRC-32 of the bundle it was recorded from; both
 *   are checked at each start (≈ 2 ms for the 10 MB);
 * - V8 itself refuses a cache made under other V8 flags (an agent started
 *   without the bin's flags, or with some in NODE_OPTIONS): the bundle is then
 *   compiled as usual, state `rejected`.
 * Otherwise `mycel agent` loads the ES module bundle like every other
 * command: a damaged or mismatched cache costs a fifth more CPU at start,
 * nothing else, so it is said (stderr, state `broken`) and not fatal.
 * `mycel_process_code_cache_info{state}` says which happened
 * (code-cache-state.ts).
 *
 * This module is part of the `mycel` entry every command loads: Node's
 * built-ins and lib/'s file helpers only, no schema library.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Script } from 'node:vm'
import { crc32 } from '../lib/checksum.js'
import { CorruptFileError } from '../lib/errors.js'
import type { FileFormat } from '../lib/file-format.js'
import { readSealedSync, writeSealedSync } from '../lib/sealed-file.js'
import { setCodeCacheState, type CodeCacheState } from './code-cache-state.js'

/** The build's record of the agent's CommonJS bundle and its cache, in the bundle directory. */
export const CODE_CACHE_MANIFEST = 'agent-code-cache.json'

/**
 * Set only by the build's recording run (scripts/post-build.mjs): load the
 * bundle without a cache and write V8's cache of it to this path at exit.
 */
export const CODE_CACHE_OUT_ENV = 'MYCEL_CODE_CACHE_OUT'

/**
 * The cache file: sealed, its payload the bundle's CRC-32 (u32be) and V8's
 * cached data. Readable by whoever runs the agent (the build may be root's).
 */
export const CODE_CACHE_FORMAT: FileFormat = {
  magic: 'MYCELVC1',
  name: 'agent code cache',
  recovery: 'run `npm run build` again (meanwhile the agent loads its ES modules)'
}
const CACHE_FILE_MODE = 0o644
const BUNDLE_CRC_BYTES = 4

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
  let bundle: AgentBundle
  try {
    const manifest = readCodeCacheManifest(dir)
    if (manifest === undefined) return false
    if (out === undefined) {
      if (!sameNode(manifest, thisNode())) {
        setCodeCacheState('other-node')
        return false
      }
      if (manifest.cache === undefined) {
        setCodeCacheState('no-cache')
        return false
      }
    }
    bundle = readAgentBundle(dir, manifest, out === undefined)
  } catch (err) {
    setCodeCacheState('broken')
    process.stderr.write(`mycel: not starting from the code cache: ${(err as Error).message}\n`)
    return false
  }
  const script = compileBundle(bundle.file, bundle.source, bundle.cachedData)
  const state: CodeCacheState = out !== undefined ? 'recording' : script.cachedDataRejected === true ? 'rejected' : 'accepted'
  setCodeCacheState(state)
  if (out !== undefined) {
    // At exit V8's cache holds every function the run compiled: the start, the agent at rest, the stop.
    process.once('exit', () => { writeCodeCache(out, bundle.crc, script.createCachedData()) })
  }
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void
  const module = { exports: {} }
  wrapper.call(module.exports, module.exports, createRequire(bundle.file), module, bundle.file, dir)
  return true
}

function sameNode (a: CodeCacheNode, b: CodeCacheNode): boolean {
  return a.node === b.node && a.v8 === b.v8 && a.platform === b.platform && a.arch === b.arch
}

export interface AgentBundle {
  file: string
  source: string
  /** CRC-32 of the bundle's bytes, which its cache must name. */
  crc: number
  /** V8's cached data, when asked for. */
  cachedData?: Buffer
}

/**
 * The bundle the manifest names and, with `withCache`, its cache, checked
 * against each other: throws CorruptFileError when the cache is damaged or
 * was recorded from other bytes of the bundle. The build checks its
 * recording through this same function.
 */
export function readAgentBundle (dir: string, manifest: CodeCacheManifest, withCache: boolean): AgentBundle {
  const file = join(dir, manifest.bundle)
  const bytes = readFileSync(file)
  const crc = crc32(bytes)
  // The build writes the bundle ASCII-only (lib/ascii-source.ts): latin1 reads it exactly, and fastest.
  const bundle: AgentBundle = { file, source: bytes.toString('latin1'), crc }
  if (!withCache) return bundle
  if (manifest.cache === undefined) throw new CodeCacheManifestError(`${join(dir, CODE_CACHE_MANIFEST)}: names no cache`)
  const path = join(dir, manifest.cache)
  const sealed = readSealedSync(CODE_CACHE_FORMAT, path)
  if (sealed === undefined) throw new CorruptFileError(path, `${CODE_CACHE_FORMAT.name} is missing`, CODE_CACHE_FORMAT.recovery)
  const payload = Buffer.from(sealed.payload.buffer, sealed.payload.byteOffset, sealed.payload.byteLength)
  if (payload.length < BUNDLE_CRC_BYTES || payload.readUInt32BE(0) !== crc) {
    throw new CorruptFileError(path, `${CODE_CACHE_FORMAT.name} was recorded from other bytes of ${manifest.bundle} (edited in place?)`, CODE_CACHE_FORMAT.recovery)
  }
  return { ...bundle, cachedData: payload.subarray(BUNDLE_CRC_BYTES) }
}

/** The recording's cache file, replaced whole and durably. */
function writeCodeCache (path: string, bundleCrc: number, cachedData: Buffer): void {
  const payload = Buffer.alloc(BUNDLE_CRC_BYTES + cachedData.length)
  payload.writeUInt32BE(bundleCrc, 0)
  cachedData.copy(payload, BUNDLE_CRC_BYTES)
  writeSealedSync(CODE_CACHE_FORMAT, path, payload, CACHE_FILE_MODE)
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
