/**
 * The agent's own parts that are not protocol components, as lifecycle
 * parts (lib/lifecycle.ts): the data dir (lock and identity), the graceful
 * leave, and the agent.json info file. daemon/agent.ts puts them in order.
 */
import type { Logger } from 'pino'
import { DirLock } from '../lib/dir-lock.js'
import { writeFileDurable } from '../lib/durable-file.js'
import { LifecycleStateError, type Startable } from '../lib/lifecycle.js'
import type { Membership } from '../protocols/membership/types.js'
import { loadOrCreateIdentity, type Identity } from './identity.js'
import { loadOrCreateApiToken } from './api-token.js'

/**
 * Longest the agent waits at stop for its leave to be acknowledged, ms:
 * membership gives up after its own `leaveTimeoutMs` (1–5 s by profile);
 * this caps the wait so a stop (SIGTERM under systemd) is never held long by
 * an unreachable cluster.
 */
export const LEAVE_TIMEOUT_MS = 3_000

/**
 * The data dir, the agent's first part: the lock (one agent per data dir,
 * held for the process's life: a second agent would share the identity and
 * overwrite the logs), then the identity, created on first start so
 * `mycel agent` on a new data dir just works. The identity is read under the
 * lock because it may be written: two agents starting on a new data dir must
 * not both create one. With `apiToken`, the admin API token is read (or
 * made) the same way, before the network starts, so a bad token file stops
 * the agent before it touches anything. Stopping releases the lock; a
 * failed read does too, as the lifecycle stops a part whose start failed.
 */
export class DataDir implements Startable {
  private lock?: DirLock
  private loaded?: Identity
  /** The admin API token (daemon/api-token.ts), with `apiToken`; once started. */
  apiToken?: string

  constructor (readonly path: string, private readonly opts: { apiToken?: boolean } = {}) {}

  /** This node's key and peer id; once started. */
  get identity (): Identity {
    if (this.loaded === undefined) throw new LifecycleStateError(`data dir ${this.path} is not open`)
    return this.loaded
  }

  async start (): Promise<void> {
    if (this.lock !== undefined) return
    this.lock = await DirLock.acquire(this.path)
    this.loaded = await loadOrCreateIdentity(this.path)
    if (this.opts.apiToken === true) this.apiToken = await loadOrCreateApiToken(this.path)
  }

  stop (): void {
    this.lock?.release()
    this.lock = undefined
  }
}

/**
 * The graceful leave, a part right after membership: its `beforeStop` runs
 * while every part still runs and the network is up, and announces that
 * this node leaves, so peers mark it left at once instead of suspecting it
 * and waiting out a suspicion timeout. `announce()` false skips it.
 */
export function gracefulLeave (membership: Pick<Membership, 'leave'>, init: { announce: () => boolean, logger: Logger }): Startable {
  return {
    start: () => {},
    beforeStop: async () => {
      if (!init.announce()) return
      await membership.leave(AbortSignal.timeout(LEAVE_TIMEOUT_MS)).catch((err: unknown) => { init.logger.warn({ err }, 'leave announcement failed') })
    },
    stop: () => {}
  }
}

/**
 * agent.json, the last part: for the CLI and scripts on this host, where
 * this data dir's agent listens. Written atomically (rename) so a reader
 * never sees half a file; a failure to write it is a warning, not a failed
 * start (the agent works without it). Left in place at stop, as before: a
 * reader tells a stale one by its pid.
 */
export function infoFile (path: string, content: object, logger: Logger): Startable {
  return {
    start: async () => {
      await writeFileDurable(path, JSON.stringify(content, null, 2) + '\n', 0o644)
        .catch((err: unknown) => { logger.warn({ err }, 'cannot write agent.json') })
    },
    stop: () => {}
  }
}
