/** HTTP client of the admin API used by every CLI command. */
import { ApiUnreachableError } from '../errors.js'
import { RequestError, isErrorStatus } from '../../lib/errors.js'
import { DEFAULT_API } from '../config.js'

export class ApiClient {
  readonly base: string

  constructor (api: string = DEFAULT_API) {
    this.base = api.startsWith('http://') || api.startsWith('https://') ? api.replace(/\/$/, '') : `http://${api}`
  }

  async get<T = unknown> (path: string, signal?: AbortSignal): Promise<T> { return await this.call<T>('GET', path, undefined, signal) }
  async put<T = unknown> (path: string, body: unknown, signal?: AbortSignal): Promise<T> { return await this.call<T>('PUT', path, body, signal) }
  async post<T = unknown> (path: string, body: unknown, signal?: AbortSignal): Promise<T> { return await this.call<T>('POST', path, body, signal) }
  async del<T = unknown> (path: string, signal?: AbortSignal): Promise<T> { return await this.call<T>('DELETE', path, undefined, signal) }

  /** POST a binary body of `contentType` (a component release); the answer is JSON as for every call. */
  async postBytes<T = unknown> (path: string, body: Uint8Array, contentType: string, signal?: AbortSignal): Promise<T> {
    return await this.call<T>('POST', path, new BinaryBody(body, contentType), signal)
  }

  /** Raw response for streaming endpoints (SSE); caller reads `body`. */
  async stream (path: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.fetch('GET', path, undefined, signal)
    if (!res.ok) throw await answeredError(res)
    return res
  }

  async call<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.fetch(method, path, body, signal)
    if (!res.ok) throw await answeredError(res)
    const text = await res.text()
    return (text.length > 0 ? JSON.parse(text) : undefined) as T
  }

  private async fetch (method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const binary = body instanceof BinaryBody ? body : undefined
    try {
      return await fetch(this.base + path, {
        method,
        headers: binary !== undefined ? { 'content-type': binary.contentType } : body !== undefined ? { 'content-type': 'application/json' } : undefined,
        body: binary !== undefined ? binary.bytes : body !== undefined ? JSON.stringify(body) : undefined,
        signal: signal ?? AbortSignal.timeout(30_000)
      })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
      throw new ApiUnreachableError(`no mycel agent answers at ${this.base} (${cause}); is \`mycel agent\` running? (--api HOST:PORT)`)
    }
  }
}

/** A body sent as it is, not as JSON. */
class BinaryBody {
  constructor (readonly bytes: Uint8Array, readonly contentType: string) {}
}

/**
 * The agent's error answer as the error it threw: a RequestError with the
 * same status (the exit code depends on it), or a plain Error for an
 * internal failure of the agent (500).
 */
async function answeredError (res: Response): Promise<Error> {
  let message = res.statusText
  try {
    const body = await res.json() as { error?: string }
    if (typeof body.error === 'string') message = body.error
  } catch { /* not JSON */ }
  return isErrorStatus(res.status) ? new RequestError(res.status, message) : new Error(message)
}
