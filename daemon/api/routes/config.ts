/**
 * Admin API routes of replicated config (see docs/config.md):
 *
 *   GET    /v1/config                          store status (namespaces, version vectors, log size)
 *   GET    /v1/config/:namespace               {namespace, entries: {key: value}, writers: {key: peerId}}
 *   GET    /v1/config/:namespace?watch=1       server-sent events: `snapshot`, then `set` / `delete`; a final
 *                                               `dropped` when the agent ends it (watch.ts); 503 beyond maxWatchers
 *   GET    /v1/config/:namespace/:key          {namespace, key, value, writer}; 404 if absent
 *   PUT    /v1/config/:namespace/:key          body {"value": <any JSON>}; ?waitFor=N&timeoutMs=T
 *   DELETE /v1/config/:namespace/:key          ?waitFor=N&timeoutMs=T
 *
 * A PUT or DELETE answers once the write is fsynced locally; with waitFor=N
 * once N other members hold it durably too (504 if they do not in time; the
 * write itself stands). Store errors carry their own status (crdt/errors.ts).
 * Every write made here is traced (docs/tracing.md): it continues the
 * caller's `traceparent` header or starts a trace, and the answer names it
 * (`trace` in the JSON, `traceresponse` and `x-trace-id` headers).
 */
import { RequestError } from '../../../lib/errors.js'
import type { ApiRequest, Route } from '../router.js'
import type { ConfigService, WriteResult } from '../../../protocols/config-sync/service.js'
import { checkNamespace } from '../../../crdt/namespaces.js'
import { callerTraceparent, traceHeaders } from '../trace-header.js'

export function configRoutes (svc: ConfigService): Route[] {
  return [
    { method: 'GET', path: '/v1/config', handler: () => ({ json: svc.status() }) },
    {
      method: 'GET',
      path: '/v1/config/:namespace',
      handler: (req) => {
        const ns = namespaceParam(req)
        if (isTrue(req.query.get('watch'))) {
          return { stream: svc.watchers.open(ns) }
        }
        return { json: listing(svc, ns) }
      }
    },
    {
      method: 'GET',
      path: '/v1/config/:namespace/:key',
      handler: (req) => {
        const ns = namespaceParam(req)
        const v = svc.get(ns, req.params.key)
        if (v === undefined) throw new RequestError(404, `no key ${ns}/${req.params.key}`)
        return { json: { namespace: ns, key: req.params.key, value: v.value, writer: v.writer ?? null } }
      }
    },
    {
      method: 'PUT',
      path: '/v1/config/:namespace/:key',
      handler: async (req) => {
        const ns = namespaceParam(req)
        const body = req.body
        if (body === null || typeof body !== 'object' || !('value' in body)) {
          throw new RequestError(400, 'body must be a JSON object {"value": <any JSON value>}')
        }
        const r = await svc.write(ns, req.params.key, (body as { value: unknown }).value, writeOptions(req))
        return { json: writeReply(ns, req.params.key, r), headers: traceHeaders(r.trace) }
      }
    },
    {
      method: 'DELETE',
      path: '/v1/config/:namespace/:key',
      handler: async (req) => {
        const ns = namespaceParam(req)
        const r = await svc.write(ns, req.params.key, undefined, { ...writeOptions(req), deleted: true })
        return { json: { ...writeReply(ns, req.params.key, r), deleted: r.envelope !== undefined }, headers: traceHeaders(r.trace) }
      }
    }
  ]
}

function listing (svc: ConfigService, ns: string): { namespace: string, entries: Record<string, unknown>, writers: Record<string, string | null> } {
  const all = svc.entries(ns)
  // Object.fromEntries defines own properties: a key named "__proto__" is listed like any other.
  const entries = Object.fromEntries(all.map(([k, v]) => [k, v.value])) as Record<string, unknown>
  const writers = Object.fromEntries(all.map(([k, v]) => [k, v.writer ?? null])) as Record<string, string | null>
  return { namespace: ns, entries, writers }
}

export function writeReply (ns: string, key: string, r: WriteResult): Record<string, unknown> {
  return { namespace: ns, key, writer: r.envelope?.writer ?? null, seq: r.envelope?.seq ?? null, acked: r.acked, ...(r.trace !== undefined ? { trace: r.trace.traceId } : {}) }
}

function namespaceParam (req: ApiRequest): string {
  try {
    checkNamespace(req.params.namespace)
  } catch (err) {
    throw new RequestError(400, (err as Error).message)
  }
  return req.params.namespace
}

function isTrue (v: string | null): boolean { return v !== null && v !== '0' && v !== 'false' }

/** A write's options from the request: waitFor, timeoutMs, and its trace (continuing the caller's `traceparent`). */
export function writeOptions (req: ApiRequest): { waitFor?: number, timeoutMs?: number, signal: AbortSignal, trace: { parent?: string } } {
  const int = (name: string, max: number): number | undefined => {
    const raw = req.query.get(name)
    if (raw === null) return undefined
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0 || n > max) throw new RequestError(400, `${name} must be an integer between 0 and ${max}`)
    return n
  }
  const parent = callerTraceparent(req)
  return { waitFor: int('waitFor', 10_000), timeoutMs: int('timeoutMs', 3_600_000), signal: req.signal, trace: parent !== undefined ? { parent } : {} }
}
