/**
 * The launcher state on disk, <dataDir>/core/state, in two lines:
 *
 *   mycel-launcher-state 1 sha256:<hex of the second line>
 *   {"good":...,"trying":...,"bad":[...]}
 *
 * Text, so an operator can read it (`cat`), with a checksum over the exact
 * bytes of the JSON line, so damage is never taken for a state. Replaced
 * whole: a temp file beside it, fsynced, renamed over it, the directory
 * fsynced (lib/durable-file.ts's rule, with Node's built-ins only: the
 * launcher imports nothing of ours outside this folder). Anything that does
 * not check out (header, checksum, JSON, shape) is CoreStateCorruptError:
 * the launcher stops loudly rather than guess which build to start.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname, isAbsolute } from 'node:path'
import type { BadBuild, Build, LauncherState, TryingBuild } from './state.js'
import { EMPTY_STATE, MAX_BAD_BUILDS, MAX_REASON_CHARS } from './state.js'

const HEADER = 'mycel-launcher-state 1 sha256:'
const MAX_VERSION_CHARS = 256
const MAX_DIR_CHARS = 4096

/** What to do about a damaged state file: said by the launcher and by the agent. */
export const STATE_RECOVERY = 'stop the mycel service, then remove the file: the launcher starts the base install, and the agent installs the deployed core version again'

export class CoreStateCorruptError extends Error {
  static name = 'CoreStateCorruptError'
  override name = 'CoreStateCorruptError'
  readonly recovery = STATE_RECOVERY
  constructor (readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`)
  }
}

export function encodeState (state: LauncherState): string {
  const body = JSON.stringify({ ...(state.good !== undefined ? { good: build(state.good) } : {}), ...(state.trying !== undefined ? { trying: state.trying } : {}), bad: state.bad })
  return `${HEADER}${sha256(body)}\n${body}\n`
}

/** The state in `text`; CoreStateCorruptError naming `file` on anything wrong. */
export function decodeState (file: string, text: string): LauncherState {
  const nl = text.indexOf('\n')
  const header = nl < 0 ? text : text.slice(0, nl)
  if (!header.startsWith(HEADER)) throw new CoreStateCorruptError(file, 'not a launcher state file (unknown header)')
  if (!text.endsWith('\n') || text.indexOf('\n', nl + 1) !== text.length - 1) throw new CoreStateCorruptError(file, 'launcher state is cut short or has extra lines')
  const body = text.slice(nl + 1, -1)
  if (sha256(body) !== header.slice(HEADER.length)) throw new CoreStateCorruptError(file, 'launcher state fails its checksum')
  let raw: unknown
  try { raw = JSON.parse(body) } catch { throw new CoreStateCorruptError(file, 'launcher state is not JSON') }
  const problem = shapeProblem(raw)
  if (problem !== undefined) throw new CoreStateCorruptError(file, `launcher state is not a valid record: ${problem}`)
  return raw as LauncherState
}

/** The state at `file`; the empty state when there is none (every start so far was the base install's). */
export async function readState (file: string): Promise<LauncherState> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE
    throw err
  }
  return decodeState(file, text)
}

/** Replace the state at `file` atomically and durably. */
export async function writeState (file: string, state: LauncherState): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  try {
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(encodeState(state))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  const dir = await open(dirname(file), 'r')
  try { await dir.sync() } catch { /* a file system without directory fsync */ } finally { await dir.close() }
}

function sha256 (s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex')
}

function build (b: Build): Build {
  return { version: b.version, dir: b.dir }
}

function isRecord (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function text (x: unknown, max: number): boolean {
  return typeof x === 'string' && x.length > 0 && x.length <= max
}

function count (x: unknown): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function buildProblem (x: unknown, what: string): string | undefined {
  if (!isRecord(x)) return `${what} is not an object`
  if (!text(x.version, MAX_VERSION_CHARS)) return `${what}.version is not a version`
  if (!text(x.dir, MAX_DIR_CHARS) || !isAbsolute(x.dir as string)) return `${what}.dir is not an absolute path`
  return undefined
}

function shapeProblem (raw: unknown): string | undefined {
  if (!isRecord(raw)) return 'not an object'
  if (raw.good !== undefined) {
    const p = buildProblem(raw.good, 'good')
    if (p !== undefined) return p
  }
  if (raw.trying !== undefined) {
    const t = raw.trying as Partial<TryingBuild>
    const p = buildProblem(t, 'trying')
    if (p !== undefined) return p
    if (!count(t.attempts)) return 'trying.attempts is not a count'
    if (t.lastFailure !== undefined && !text(t.lastFailure, MAX_REASON_CHARS)) return 'trying.lastFailure is not a reason'
  }
  if (!Array.isArray(raw.bad) || raw.bad.length > MAX_BAD_BUILDS) return `bad is not a list of at most ${MAX_BAD_BUILDS}`
  for (const [i, b] of (raw.bad as unknown[]).entries()) {
    const p = buildProblem(b, `bad[${i}]`)
    if (p !== undefined) return p
    const bb = b as Partial<BadBuild>
    if (!count(bb.at) || !count(bb.attempts)) return `bad[${i}] has no time or attempts`
    if (!text(bb.reason, MAX_REASON_CHARS) || !text(bb.returnedTo, MAX_VERSION_CHARS)) return `bad[${i}] has no reason or returnedTo`
  }
  return undefined
}
