/**
 * Admin API of the node identity:
 *   POST /v1/identity/rotate {graceMs?}  → a new key; the old key signs the
 *        hand-over `admission/allow/<new>` and waits for its commit; then the
 *        key files are swapped and the agent restarts under the new id once
 *        this answer is sent: {old, new, height, graceUntil}
 * Needs a genesis (the hand-over is critical config). One rotation at a time;
 * a next key left by an interrupted one is decided at start
 * (daemon/key-rotation.ts), and until then this route refuses.
 */
import type { ServerResponse } from 'node:http'
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import { RequestError } from '../../../lib/errors.js'
import type { Route } from '../router.js'
import type { CriticalService } from '../../../protocols/bft/service.js'
import type { VersionVector } from '../../../crdt/version-vector.js'
import { ALLOW_PREFIX, MAX_GRACE_MS } from '../../../policy/admission-values.js'
import { DEFAULT_ROTATE_GRACE_MS, createNextKey, finishSwap, handOverValue, loadNextKey, removeNextKey } from '../../key-rotation.js'

const rotateBody = z.object({ graceMs: z.number().int().min(0).max(MAX_GRACE_MS).optional() }).strict()

/** Errors after which the hand-over certainly is not and will not be committed (refused, or expired unseen). */
const FINAL_FAILURES = new Set(['InvalidEntryError', 'NotAdminError', 'CommitTimeoutError'])

export interface IdentityRoutesInit {
  dataDir: string
  identity: { privateKey: PrivateKey, peerId: string }
  /** Critical config; undefined without a genesis. */
  critical?: Pick<CriticalService, 'proposeOwn' | 'state'>
  /** This node's config store version vector (every writer's last sequence number per namespace). */
  versionVector: () => VersionVector
  /** Restart the agent under the swapped key; absent, the next start uses it. */
  restart?: () => void
  logger: Logger
}

export function identityRoutes (init: IdentityRoutesInit): Route[] {
  let rotating = false
  return [{
    method: 'POST',
    path: '/v1/identity/rotate',
    handler: async (req) => {
      const body = rotateBody.safeParse(req.body ?? {})
      if (!body.success) throw new RequestError(400, `invalid body: ${body.error.issues[0]?.path.join('.') ?? ''} ${body.error.issues[0]?.message ?? ''}`.trim())
      const critical = init.critical
      if (critical === undefined) throw new RequestError(409, 'key rotation hands the admission over through critical config; this network has no genesis')
      if (rotating) throw new RequestError(409, 'a key rotation is already running')
      if (await loadNextKey(init.dataDir) !== undefined) {
        throw new RequestError(409, 'identity.next.key is left from an interrupted rotation; the agent decides it (see its log) before another rotation can start')
      }
      rotating = true
      try {
        const old = init.identity.peerId
        const next = await createNextKey(init.dataDir)
        const now = Date.now()
        const graceMs = body.data.graceMs ?? DEFAULT_ROTATE_GRACE_MS
        const value = handOverValue({ old, now, graceMs, versionVector: init.versionVector(), oldAllow: critical.state.get(ALLOW_PREFIX + old)?.value ?? undefined })
        init.logger.info({ old, new: next.peerId, graceMs }, 'key rotation: proposing the hand-over')
        let height: number
        try {
          // Not the request's signal: once submitted the entry may commit whatever the client does.
          height = (await critical.proposeOwn(ALLOW_PREFIX + next.peerId, value)).height
        } catch (err) {
          const name = (err as Error).name
          if (FINAL_FAILURES.has(name) && critical.state.get(ALLOW_PREFIX + next.peerId) === undefined) {
            await removeNextKey(init.dataDir)
          } else {
            init.logger.warn({ err, next: next.peerId }, 'key rotation: the hand-over may still commit; identity.next.key is kept and decided at the next start')
          }
          throw err
        }
        await finishSwap(init.dataDir, init.identity.privateKey)
        init.logger.info({ old, new: next.peerId, height }, 'key rotation: hand-over committed; key files swapped')
        const json = { old, new: next.peerId, height, graceUntil: new Date(now + graceMs).toISOString(), restarting: init.restart !== undefined }
        const restart = init.restart
        // Restart only after the answer is flushed: stopping the admin API destroys its sockets.
        return {
          stream: async (res: ServerResponse) => {
            await new Promise<void>(resolve => {
              res.writeHead(200, { 'content-type': 'application/json' })
              res.end(JSON.stringify(json), () => { resolve() })
            })
            if (restart !== undefined) setImmediate(restart)
          }
        }
      } finally {
        rotating = false
      }
    }
  }]
}
