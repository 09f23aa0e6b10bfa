/**
 * TEST-ONLY controls for integration tests of fencing under partition. They
 * exist only when the agent runs the `test` profile AND the environment has
 * MYCEL_TEST_HOOKS=1; otherwise `testHooksEnabled` is false, no routes are
 * added and the gater denies nothing.
 *
 *  POST /v1/test/partition  {"deny": ["<peer id>", ...] | "all"}
 *      Refuse (connection gater) and hang up connections to those peers;
 *      `{"deny": []}` heals and redials every known member.
 *  POST /v1/test/roles/:role/stale-action  [{"term": N}]
 *      Send a fenced action with term N (default: the last term this node
 *      acted in for the role), whether or not it still holds it. Receivers
 *      must ignore it.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdOf } from '../wire/peer-ids.js'
import type { Logger } from 'pino'
import type { Route } from './api/router.js'
import { RequestError } from '../lib/errors.js'
import type { MycelNode } from './node.js'
import type { ProfileName } from '../lib/tunables.js'
import type { Membership } from '../protocols/membership/types.js'
import { TEST_HOOKS_ENV } from '../managers/constants.js'
import { ROLE_NAMES, type RoleName } from '../managers/registry.js'

export function testHooksEnabled (profile: ProfileName, env: NodeJS.ProcessEnv = process.env): boolean {
  return profile === 'test' && env[TEST_HOOKS_ENV] === '1'
}

export class PartitionControl {
  private all = false
  private readonly denied = new Set<string>()

  /** For createNode's `denyPeer` (connection gater). */
  denies (peer: PeerId): boolean {
    return this.all || this.denied.has(peer.toString())
  }

  routes (node: () => MycelNode, membership: () => Membership, logger: Logger): Route[] {
    return [{
      method: 'POST',
      path: '/v1/test/partition',
      handler: async (req) => {
        const deny = (req.body as { deny?: unknown } | undefined)?.deny
        if (deny !== 'all' && !(Array.isArray(deny) && deny.every(d => typeof d === 'string'))) throw new RequestError(400, 'body: {"deny": [peer ids] | "all"}')
        this.all = deny === 'all'
        this.denied.clear()
        if (Array.isArray(deny)) for (const d of deny) this.denied.add(d)
        const n = node()
        let closed = 0
        for (const conn of n.getConnections()) {
          if (this.denies(conn.remotePeer)) { closed++; await conn.close().catch(() => conn.abort(new Error('partitioned'))) }
        }
        let dialed = 0
        if (!this.all && this.denied.size === 0) {
          // Healing: SWIM does not redial dead members by itself.
          const self = membership().self().peerId
          await Promise.allSettled(membership().members().filter(m => m.peerId !== self).map(async m => {
            await n.dial(peerIdOf(m.peerId), { signal: AbortSignal.timeout(5_000) })
            dialed++
          }))
        }
        logger.warn({ deny, closed, dialed }, 'TEST HOOK: partition changed')
        return { json: { deny, closed, dialed } }
      }
    }]
  }
}

export function staleActionRoute (emitStale: (role: RoleName, term?: number) => Promise<number | undefined>): Route {
  return {
    method: 'POST',
    path: '/v1/test/roles/:role/stale-action',
    handler: async (req) => {
      const role = req.params.role as RoleName
      if (!ROLE_NAMES.includes(role)) throw new RequestError(400, `unknown role ${role}`)
      const asked = (req.body as { term?: unknown } | undefined)?.term
      if (asked !== undefined && (typeof asked !== 'number' || !Number.isSafeInteger(asked) || asked < 1)) throw new RequestError(400, 'term must be a positive integer')
      const term = await emitStale(role, asked)
      if (term === undefined) throw new RequestError(409, `this node never acted for ${role}`)
      return { json: { role, term } }
    }
  }
}
