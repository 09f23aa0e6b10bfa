/**
 * How this process loaded its code (daemon/code-cache.ts), for the process
 * metrics. The entry sets it and the agent's bundle reads it: one process,
 * two copies of the daemon's modules, so it lives on globalThis.
 */

/**
 * - accepted: from V8's code cache the build recorded;
 * - rejected: V8 refused that cache (node started with other V8 flags, e.g. in
 *   NODE_OPTIONS): the bundle was compiled as usual;
 * - recording: the build's recording run;
 * - other-node: the cache was made by another node (version, V8, platform or
 *   architecture): the ES modules loaded;
 * - no-cache: the build's recording failed (it said why): the ES modules loaded;
 * - broken: the manifest or the files it names could not be read, or the cache is damaged or was
 *   recorded from other bytes of the bundle: the ES modules loaded.
 * Undefined: a command other than the agent, or a build without the bundle (tsc's output).
 */
export type CodeCacheState = 'accepted' | 'rejected' | 'recording' | 'other-node' | 'no-cache' | 'broken'

const STATE_KEY = Symbol.for('mycel.codeCacheState')

export function codeCacheState (): CodeCacheState | undefined {
  return (globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY]
}

export function setCodeCacheState (state: CodeCacheState): void {
  (globalThis as Record<symbol, CodeCacheState | undefined>)[STATE_KEY] = state
}
