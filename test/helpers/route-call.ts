/**
 * Call one admin route's handler in-process, as the router would: the
 * answer's status and JSON, or the StatusError's status and message
 * (`{error}`); any other error is thrown (a 500 is a bug, not an answer).
 */
import type { ApiRequest, Route } from '../../daemon/api/router.js'

export interface RouteCall { params?: Record<string, string>, body?: unknown, query?: string }

export async function callRoute (routes: Route[], method: string, path: string, opts: RouteCall = {}): Promise<{ status: number, json: any }> {
  const route = routes.find(r => r.method === method && r.path === path)
  if (route === undefined) throw new Error(`no route ${method} ${path}`)
  const req = { method, params: opts.params ?? {}, query: new URLSearchParams(opts.query ?? ''), body: opts.body, signal: new AbortController().signal } as unknown as ApiRequest
  try {
    const out = await route.handler(req) as { status?: number, json: unknown }
    return { status: out.status ?? 200, json: out.json }
  } catch (err: any) {
    if (typeof err.status !== 'number') throw err
    return { status: err.status, json: { error: err.message } }
  }
}
