/**
 * How this process loaded its code (daemon/code-cache.ts), for the process
 * metrics. The entry sets it and the agent's bundle reads it: one process,
 * two copies of the daemon's modules, so it lives on globalThis. A module of
 * its own, so that the entry's code-cache.ts is not shared with the agent's
 * code, which would move it into a chunk of another directory.
 */

/** From the cache, past a cache V8 refused, recording one; undefined: the ES modules. */
export type CodeCacheState = 'accepted' | 'rejected' | 'recording'

const STATE_KEY = Symbol.for('mycel.codeCacheState')

export function codeCacheState (): CodeCacheState | undefined {
  return (globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY]
}

export function setCodeCacheState (state: CodeCacheState): void {
  (globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY] = state
}
