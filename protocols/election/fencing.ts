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
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { writeFileDurable } from '../../daemon/identity.js'
import { compareTokens, type FencingToken } from './lease.js'

export const FENCING_FILE = join('election', 'fencing.json')

export type FenceResult = 'raised' | 'current' | 'stale'

/** Bound on remembered (region, role) pairs; leases for invented regions cannot grow it without end. */
const MAX_TOKENS = 20_000

export interface FencingStoreInit {
  /** Data dir; no persistence when undefined (unit tests). */
  dataDir?: string
  logger?: Logger
  /** Coalesce writes over this window, ms. */
  persistDelayMs?: number
}

export class FencingStore {
  private readonly tokens = new Map<string, FencingToken>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor (private readonly init: FencingStoreInit = {}) {}

  private get path (): string | undefined {
    return this.init.dataDir === undefined ? undefined : join(this.init.dataDir, FENCING_FILE)
  }

  async load (): Promise<void> {
    const path = this.path
    if (path === undefined) return
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      return
    }
    try {
      const parsed = JSON.parse(text) as Record<string, FencingToken>
      for (const [k, t] of Object.entries(parsed)) {
        if (typeof t?.term === 'number' && Number.isSafeInteger(t.term) && typeof t.holder === 'string') this.raise(k, t)
      }
    } catch (err) {
      // A corrupt file would only make us forget; say so loudly and go on.
      this.init.logger?.warn({ err, path }, 'fencing state unreadable; starting without it')
    }
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
    if (this.path === undefined || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.init.persistDelayMs ?? 100)
    this.timer.unref?.()
  }

  /** Write now (also called on stop). Writes are serialized. */
  async flush (): Promise<void> {
    const path = this.path
    if (path === undefined) return
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    const snapshot = JSON.stringify(Object.fromEntries(this.tokens))
    this.writing = this.writing.then(async () => {
      try {
        await writeFileDurable(path, snapshot)
      } catch (err) {
        this.init.logger?.warn({ err, path }, 'could not persist fencing state')
      }
    })
    await this.writing
  }
}
