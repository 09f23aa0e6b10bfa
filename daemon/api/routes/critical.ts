/**
 * Admin API of critical config:
 *   POST /v1/critical        {key, value, timeoutMs?} → waits for the commit (504 on timeout)
 *   GET  /v1/critical        every committed key with its height
 *   GET  /v1/critical/:key   value, height and certificate (URL-encode `/` in keys)
 *   GET  /v1/bft/status      consensus state: height, round, last commit, and per validator
 *                            its membership state, connection and last vote seen
 * Without a genesis the same paths answer 404 saying the network has none
 * (noGenesisRoutes), not "no such endpoint".
 * Certificates are returned both as readable JSON (hex byte strings) and as
 * base64 deterministic CBOR, which any client can verify offline.
 */
import { z } from 'zod'
import { RequestError } from '../../../lib/errors.js'
import type { Route } from '../router.js'
import { MAX_KEY_BYTES } from '../../../protocols/bft/constants.js'
import { blockHash, hex } from '../../../protocols/bft/crypto.js'
import { encodeCertificate } from '../../../protocols/bft/messages.js'
import type { CriticalService } from '../../../protocols/bft/service.js'
import type { Certificate } from '../../../protocols/bft/types.js'

const proposeBody = z.object({
  key: z.string().min(1).refine(k => Buffer.byteLength(k) <= MAX_KEY_BYTES, `at most ${MAX_KEY_BYTES} bytes`),
  value: z.string().nullable(),
  timeoutMs: z.number().int().min(100).max(600_000).optional()
}).strict()

export function certificateJson (c: Certificate): Record<string, unknown> {
  const b = c.block
  return {
    height: b.height,
    round: c.round,
    blockHash: hex(blockHash(b)),
    prevHash: hex(b.prevHash),
    validatorSetHash: hex(b.validatorSetHash),
    chain: hex(b.chain),
    time: new Date(b.time).toISOString(),
    entries: b.entries.map(e => ({ key: e.key, value: e.value, admin: e.admin, nonce: hex(e.nonce), expiresAt: new Date(e.expiresAt).toISOString(), signature: hex(e.signature) })),
    precommits: c.precommits.map(p => ({ validator: p.validator, signature: hex(p.signature) })),
    cbor: Buffer.from(encodeCertificate(c)).toString('base64')
  }
}

export function criticalRoutes (svc: CriticalService): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/critical',
      handler: async (req) => {
        const body = proposeBody.safeParse(req.body)
        if (!body.success) throw new RequestError(400, `invalid body: ${body.error.issues[0]?.path.join('.') ?? ''} ${body.error.issues[0]?.message ?? ''}`.trim())
        // NotAdminError, InvalidEntryError, CommitTimeoutError and ConsensusHaltedError carry their status (errors.ts).
        const r = await svc.propose(body.data.key, body.data.value, { timeoutMs: body.data.timeoutMs, signal: req.signal })
        return { json: { key: body.data.key, value: body.data.value, id: r.id, height: r.height, latencyMs: r.latencyMs, certificate: certificateJson(r.certificate) } }
      }
    },
    {
      method: 'GET',
      path: '/v1/critical',
      handler: () => ({
        json: {
          height: svc.state.height(),
          network: svc.state.genesis.networkId,
          genesis: hex(svc.state.chain),
          entries: svc.state.entries().map(e => ({ key: e.key, value: e.value, height: e.height }))
        }
      })
    },
    {
      method: 'GET',
      path: '/v1/critical/:key',
      handler: (req) => {
        const v = svc.state.get(req.params.key)
        if (v === undefined) throw new RequestError(404, `no critical key ${req.params.key}`)
        return { json: { key: v.key, value: v.value, height: v.height, certificate: v.certificate === null ? null : certificateJson(v.certificate) } }
      }
    },
    {
      method: 'GET',
      path: '/v1/bft/status',
      handler: () => {
        const { validatorView: view, ...s } = svc.status()
        return {
          json: {
            ...s,
            validatorsAlive: view.alive,
            validatorsConnected: view.connected,
            quorum: view.quorum,
            validatorStates: view.rows.map(r => ({ ...r, lastMessageAt: r.lastMessageAt === null ? null : new Date(r.lastMessageAt).toISOString() })),
            evidence: s.evidence.map(e => ({ ...e, first: e.first === null ? null : hex(e.first), second: e.second === null ? null : hex(e.second), at: new Date(e.at).toISOString() }))
          }
        }
      }
    }
  ]
}

/** The message of every critical endpoint on an agent started without `--genesis`. */
export const NO_GENESIS_MESSAGE = 'this network has no genesis, so it has no critical config: ' +
  'create one with `mycel genesis create` and start every agent with --genesis FILE (docs/bft.md)'

/** The critical endpoints of an agent without a genesis: each says so (404) instead of "no such endpoint". */
export function noGenesisRoutes (): Route[] {
  const handler = (): never => { throw new RequestError(404, NO_GENESIS_MESSAGE) }
  return [
    { method: 'POST', path: '/v1/critical', handler },
    { method: 'GET', path: '/v1/critical', handler },
    { method: 'GET', path: '/v1/critical/:key', handler },
    { method: 'GET', path: '/v1/bft/status', handler }
  ]
}
