/**
 * The admin HTTP API. Binds to 127.0.0.1 unless told otherwise; JSON in and
 * out; errors are `{ "error": message }` with the status the error carries
 * (lib/errors.ts: a StatusError's own, else 500). Routes come from the
 * components (Router); this file owns HTTP only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { Router, type ApiResponse, type Method, type Route } from './router.js'
import { RequestError, statusOf } from '../../lib/errors.js'
import type { Startable } from '../../lib/lifecycle.js'
import type { TokenAuth } from './auth.js'

/** Largest request body accepted, bytes. Config values have their own, smaller limits. */
export const MAX_BODY_BYTES = 1024 * 1024
const METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE'])

export interface ApiServerInit {
  host: string
  port: number
  logger: Logger
  /** With `apiAuth: token`: every request but the open probes needs the bearer token (auth.ts). */
  auth?: TokenAuth
}

export class ApiServer implements Startable {
  readonly router = new Router()
  private server?: Server
  private readonly shutdown = new AbortController()
  private readonly sockets = new Set<import('node:net').Socket>()

  constructor (private readonly init: ApiServerInit) {}

  add (...routes: Route[]): void { this.router.add(...routes) }

  /** Address actually bound (port 0 resolves to a free port). */
  address (): { host: string, port: number } {
    const a = this.server?.address() as AddressInfo | null | undefined
    if (a == null) throw new Error('API server not started')
    return { host: a.address, port: a.port }
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    const server = createServer((req, res) => { void this.dispatch(req, res) })
    server.on('connection', s => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)) })
    server.headersTimeout = 10_000
    server.requestTimeout = 0 // watch streams stay open
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => { server.off('error', reject); resolve() })
    })
    this.server = server
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    this.shutdown.abort()
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      for (const s of this.sockets) s.destroy()
    })
  }

  private async dispatch (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const signal = AbortSignal.any([this.shutdown.signal, abortOnClose(res)])
    let url = new URL('http://localhost/')
    try {
      // Inside the try: a request target like `http://[` does not parse, and must get a 400, not a hung request.
      try { url = new URL(req.url ?? '/', 'http://localhost') } catch { throw new RequestError(400, 'request target is not a valid URL') }
      // Before anything else: without the token a caller learns nothing, not even which paths or methods exist.
      const refused = this.init.auth?.check(method, url.pathname, req.headers.authorization, req.socket.remoteAddress ?? 'unknown')
      if (refused !== undefined) {
        // The body is not read: close the connection after the answer instead of draining what the caller sends.
        sendJson(res, 401, { error: refused.message }, { 'www-authenticate': refused.challenge, connection: 'close' })
        return
      }
      if (!METHODS.has(method)) throw new RequestError(405, `method ${method} not allowed`)
      const match = this.router.match(method, url.pathname)
      if (match === undefined) throw new RequestError(404, `no such endpoint: ${method} ${url.pathname}`)
      if (match === 'method') throw new RequestError(405, `method ${method} not allowed on ${url.pathname}`)
      const body = match.route.binary !== undefined ? await readBinaryBody(req, match.route.binary) : await readJsonBody(req)
      const out = await match.route.handler({ method: method as Method, params: match.params, query: url.searchParams, body, signal, raw: req })
      await this.respond(res, out, signal)
    } catch (err) {
      if (res.headersSent) { res.destroy(); return }
      const status = statusOf(err)
      if (status >= 500) this.init.logger.error({ err, path: url.pathname }, 'admin API handler failed')
      sendJson(res, status, { error: (err as Error).message })
    }
  }

  private async respond (res: ServerResponse, out: ApiResponse, signal: AbortSignal): Promise<void> {
    if ('stream' in out) {
      await out.stream(res, signal)
      return
    }
    if ('json' in out) {
      sendJson(res, out.status ?? 200, out.json, out.headers)
      return
    }
    res.writeHead(out.status ?? 200, { 'content-type': out.contentType })
    res.end(out.text)
  }
}

function abortOnClose (res: ServerResponse): AbortSignal {
  const c = new AbortController()
  res.on('close', () => c.abort())
  return c.signal
}

export function sendJson (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value, null, 2) + '\n'
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** The raw body of a `binary` route: its content type, at most `maxBytes` (413 over). */
async function readBinaryBody (req: IncomingMessage, spec: { contentType: string, maxBytes: number }): Promise<Uint8Array> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim()
  if (type !== spec.contentType) throw new RequestError(415, `request body must be ${spec.contentType}`)
  return await readLimited(req, spec.maxBytes)
}

async function readJsonBody (req: IncomingMessage): Promise<unknown> {
  const body = await readLimited(req, MAX_BODY_BYTES)
  if (body.byteLength === 0) return undefined
  const type = req.headers['content-type'] ?? 'application/json'
  if (!type.includes('json')) throw new RequestError(415, 'request body must be JSON (content-type: application/json)')
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new RequestError(400, `request body is not valid JSON: ${(err as Error).message}`)
  }
}

/**
 * The request body, at most `maxBytes`: 413 on a declared content-length over
 * it before anything is read, and as soon as the bytes read pass it.
 */
async function readLimited (req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > maxBytes) throw new RequestError(413, `request body over ${maxBytes} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > maxBytes) throw new RequestError(413, `request body over ${maxBytes} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks, size)
}
