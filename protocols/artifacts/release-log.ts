/**
 * The slice of replicated config the artifact service reads and writes its
 * releases through (`mycel.releases`, release-entry.ts), and the adapter
 * the agent builds it with from the config service. Structural types only:
 * this folder does not depend on config-sync's implementation, and tests
 * pass an in-memory log.
 */
import { AccessDeniedError, StoreUnavailableError } from '../../crdt/errors.js'
import { RELEASES_NAMESPACE, type ReleaseEntryValue } from './release-entry.js'

export interface ReleaseLog {
  /**
   * Throws the status error a write of this entry would meet here now,
   * writing nothing: 503 while replicated config is stopped, 403 when this
   * node may not write the namespace, 413/422 for a value the namespace
   * refuses. Lets publish refuse before it stores anything.
   */
  check: (key: string, value: ReleaseEntryValue) => void
  /** The value under `key`, if any. */
  get: (key: string) => unknown
  /** Write an entry; durable on this node when it resolves, replicated in the background. */
  write: (key: string, value: ReleaseEntryValue) => Promise<void>
  /** Every entry held now (none while replicated config is stopped). */
  entries: () => Array<[string, unknown]>
  /** Called on every change of an entry (`value` undefined: deleted); returns the unsubscribe function. */
  onChange: (listener: (key: string, value: unknown) => void) => () => void
}

/** What the adapter calls of the config service (protocols/config-sync/service.ts ConfigService). */
export interface ReplicatedConfig {
  readonly started: boolean
  get: (ns: string, key: string) => { value: unknown } | undefined
  entries: (ns: string) => Array<[string, { value: unknown }]>
  onChange: (listener: (e: { ns: string, key: string, value?: unknown, deleted: boolean }) => void) => () => void
  write: (ns: string, key: string, value: unknown) => Promise<unknown>
  readSource: () => { checkValue: (ns: string, key: string, value: unknown) => void, canWrite: (ns: string, writer: string) => boolean } | undefined
}

/** The release log on the config service, writing as `self` (this node's peer id). */
export function configReleaseLog (config: ReplicatedConfig, self: string): ReleaseLog {
  const ns = RELEASES_NAMESPACE
  return {
    check (key, value) {
      const source = config.started ? config.readSource() : undefined
      if (source === undefined) throw new StoreUnavailableError('replicated config is stopped on this node (see /readyz): a release published here could not reach the other nodes')
      source.checkValue(ns, key, value)
      if (!source.canWrite(ns, self)) throw new AccessDeniedError(`this node (${self}) may not write ${ns}: see acl/${ns} in critical config, or the agent config's namespaces section`)
    },
    get: (key) => config.started ? config.get(ns, key)?.value : undefined,
    write: async (key, value) => { await config.write(ns, key, value) },
    entries: () => config.started ? config.entries(ns).map(([k, v]) => [k, v.value]) : [],
    onChange (listener) {
      if (!config.started) return () => {}
      return config.onChange(e => { if (e.ns === ns) listener(e.key, e.deleted ? undefined : e.value) })
    }
  }
}
