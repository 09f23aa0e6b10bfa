/**
 * The admin API's routing table. Each component contributes its routes
 * (`routes(): Route[]`); the server owns HTTP, JSON errors and limits.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { RequestError } from '../../lib/errors.js'

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE'

export interface ApiRequest {
  method: Method
  /** Path parameters from `:name` segments, URI-decoded. */
  params: Record<string, string>
  query: URLSearchParams
  /** Parsed JSON body (undefined when there is none); the raw bytes for a route with `binary`. */
  body: unknown
  /** Aborted when the client goes away or the daemon stops. */
  signal: AbortSignal
  raw: IncomingMessage
}

/** A JSON reply; `stream` handlers write to the response themselves (SSE). */
export type ApiResponse =
  | { status?: number, json: unknown, headers?: Record<string, string> }
  | { status?: number, text: string, contentType: string }
  | { stream: (res: ServerResponse, signal: AbortSignal) => Promise<void> }

export interface Route {
  method: Method
  /** e.g. `/v1/config/:namespace/:key` */
  path: string
  handler: (req: ApiRequest) => Promise<ApiResponse> | ApiResponse
  /**
   * The route takes a binary body of this content type instead of JSON, up
   * to `maxBytes` (the JSON limit is for small documents; a component
   * archive is not one). The handler gets the bytes as a Uint8Array.
   */
  binary?: { contentType: string, maxBytes: number }
}

interface Compiled { route: Route, pattern: RegExp, names: string[] }

export class Router {
  private readonly compiled: Compiled[] = []

  add (...routes: Route[]): void {
    for (const route of routes) {
      const names: string[] = []
      const src = route.path.split('/').map(seg => {
        if (seg.startsWith(':')) { names.push(seg.slice(1)); return '([^/]+)' }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      }).join('/')
      this.compiled.push({ route, pattern: new RegExp(`^${src}/?$`), names })
    }
    // A literal path wins over a pattern (`/v1/components/status` over
    // `/v1/components/:name`), whatever order the routes were added in;
    // sorted once here, not per request (a stable sort keeps the order within each kind).
    this.compiled.sort((a, b) => Number(a.names.length > 0) - Number(b.names.length > 0))
  }

  /**
   * `undefined`: no such path; `'method'`: path exists but not for this
   * method. Throws RequestError 400 when a parameter is not valid
   * percent-encoded UTF-8 (`%ff`, a lone `%`), for every route alike.
   */
  match (method: string, path: string): { route: Route, params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false
    for (const c of this.compiled) {
      const m = c.pattern.exec(path)
      if (m === null) continue
      pathMatched = true
      if (c.route.method !== method) continue
      const params: Record<string, string> = {}
      c.names.forEach((n, i) => { params[n] = decodeParam(n, m[i + 1]) })
      return { route: c.route, params }
    }
    return pathMatched ? 'method' : undefined
  }
}

function decodeParam (name: string, raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw
    throw new RequestError(400, `the ${name} in the path is not valid percent-encoded UTF-8: ${shown} (write % as %25)`)
  }
}
