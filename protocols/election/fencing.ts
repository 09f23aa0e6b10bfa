/**
 * Fencing: the highest (term, holder) token seen per (region, role). A role
 * action is accepted only when its token is at least the highest seen, so an
 * old holder that still believes it leads is ignored by everyone who has seen
 * its successor (or its successor's lease).
 *
 * The map is persisted (debounced, written atomically) so a restarted node
 * does not forget and accept a stale holder again. The check itself is
 * synchronous and in memory, so two concurrent actions can never both pass
 * against the same old value; a crash within `persistDelayMs` of a raise can
 * lose that raise, which only matters if the restarted node then receives an
 * action of the older term before any newer lease reaches it.
 *
 * The file is a checksummed single record (lib/sealed-file.ts, `MYCELFN1`)
 * holding the JSON map. A damaged file, or one that does not hold valid
 * tokens, is refused (CorruptFileError): forgetting the tokens would let a
 * stale holder's actions through, so the roles component stops instead. A
 * failed write stops it too (`onFail`). The first layout, plain JSON in
 * `election/fencing.json`, is still read (strictly) and replaced on the next
 * write.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { z } from 'zod'
import { CorruptFileError, storageFailed, type FailStopError } from '../../lib/errors.js'
import type { FileFormat } from '../../lib/file-format.js'
import { readSealed, writeSealed } from '../../lib/sealed-file.js'
import { compareTokens, type FencingToken } from './lease.js'

export const FENCING_FILE = join('election', 'fencing')
/** The first layout's file (plain JSON), read when FENCING_FILE is absent. */
export const LEGACY_FENCING_FILE = join('election', 'fencing.json')

export const FENCING_FORMAT: FileFormat = {
  magic: 'MYCELFN1',
  name: 'fencing state',
  recovery: 'stop the agent and move this file aside: the node relearns the current role terms from live leases, ' +
    'and until then it could accept an action from a stale role holder'
}

const tokensSchema = z.record(
  z.string().regex(/^.+\/[^/]+$/),
  z.strictObject({ term: z.number().int().min(0).refine(Number.isSafeInteger), holder: z.string().min(1) })
)

export type FenceResult = 'raised' | 'current' | 'stale'

/** Bound on remembered (region, role) pairs; leases for invented regions cannot grow it without end. */
const MAX_TOKENS = 20_000

export interface FencingStoreInit {
  /** Data dir; no persistence when undefined (unit tests). */
  dataDir?: string
  logger?: Logger
  /** Coalesce writes over this window, ms. */
  persistDelayMs?: number
  /** Persisting failed: the owner stops (fail-stop). */
  onFail?: (err: FailStopError) => void
}

export class FencingStore {
  private readonly tokens = new Map<string, FencingToken>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private writing: Promise<void> = Promise.resolve()
  /** Set when the file could not be read or written: nothing is persisted any more (the damaged file stays as evidence). */
  private failed: FailStopError | undefined

  constructor (private readonly init: FencingStoreInit = {}) {}

  /** Load the persisted tokens; throws CorruptFileError on a damaged or invalid file. */
  async load (): Promise<void> {
    const dataDir = this.init.dataDir
    if (dataDir === undefined) return
    try {
      const path = join(dataDir, FENCING_FILE)
      const current = await readSealed(FENCING_FORMAT, path)
      if (current !== undefined) { this.adopt(path, current.payload); return }
      const legacyPath = join(dataDir, LEGACY_FENCING_FILE)
      const legacy = await readSealed(FENCING_FORMAT, legacyPath, (data) => data)
      if (legacy !== undefined) this.adopt(legacyPath, legacy.payload)
    } catch (err) {
      this.failed = err as FailStopError
      throw err
    }
  }

  private adopt (path: string, payload: Uint8Array): void {
    let parsed: unknown
    try { parsed = JSON.parse(Buffer.from(payload).toString('utf8')) } catch { parsed = undefined }
    const r = tokensSchema.safeParse(parsed)
    if (!r.success) throw new CorruptFileError(path, `${FENCING_FORMAT.name} does not hold valid tokens`, FENCING_FORMAT.recovery)
    for (const [k, t] of Object.entries(r.data)) this.raise(k, t)
  }

  highest (region: string, role: string): FencingToken | undefined {
    return this.tokens.get(`${region}/${role}`)
  }

  all (): Array<{ region: string, role: string, token: FencingToken }> {
    return [...this.tokens.entries()].map(([k, token]) => {
      const i = k.lastIndexOf('/')
      return { region: k.slice(0, i), role: k.slice(i + 1), token }
    })
  }

  /** Compare with the highest seen and raise it; 'stale' means: ignore the sender. */
  check (region: string, role: string, token: FencingToken): FenceResult {
    const key = `${region}/${role}`
    const cur = this.tokens.get(key)
    if (cur === undefined) { this.raise(key, token); return 'raised' }
    const c = compareTokens(token, cur)
    if (c < 0) return 'stale'
    if (c === 0) return 'current'
    this.raise(key, token)
    return 'raised'
  }

  private raise (key: string, token: FencingToken): void {
    const cur = this.tokens.get(key)
    if (cur !== undefined && compareTokens(token, cur) <= 0) return
    if (cur === undefined && this.tokens.size >= MAX_TOKENS) return
    this.tokens.set(key, { term: token.term, holder: token.holder })
    this.schedulePersist()
  }

  private schedulePersist (): void {
    if (this.init.dataDir === undefined || this.timer !== undefined || this.failed !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.init.persistDelayMs ?? 100)
    this.timer.unref?.()
  }

  /** Write now (also called on stop). Writes are serialized. */
  async flush (): Promise<void> {
    const dataDir = this.init.dataDir
    if (dataDir === undefined || this.failed !== undefined) return
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    const snapshot = Buffer.from(JSON.stringify(Object.fromEntries(this.tokens)))
    this.writing = this.writing.then(async () => {
      if (this.failed !== undefined) return
      const path = join(dataDir, FENCING_FILE)
      try {
        await writeSealed(FENCING_FORMAT, path, snapshot)
        await rm(join(dataDir, LEGACY_FENCING_FILE), { force: true })
      } catch (err) {
        this.failed = storageFailed(path, 'write', err)
        this.init.logger?.error({ err }, 'could not persist fencing state; stopping the roles component')
        this.init.onFail?.(this.failed)
      }
    })
    await this.writing
  }
}
