/**
 * HTTP client of the admin API used by every CLI command. With a token file
 * (`--token-file`, `MYCEL_API_TOKEN_FILE`: the agent's `<data dir>/api.token`)
 * every request carries `Authorization: Bearer <token>` (daemon/api/auth.ts);
 * the file is read at the first request, so a command that fails its own
 * checks first does not need it.
 */
import { readFile } from 'node:fs/promises'
import { ApiUnauthorizedError, ApiUnreachableError, UsageError } from '../errors.js'
import { RequestError, isErrorStatus } from '../../lib/errors.js'
import { DEFAULT_API } from '../api-address.js'

/** The environment variable naming the token file when `--token-file` is not given. */
export const TOKEN_FILE_ENV = 'MYCEL_API_TOKEN_FILE'

/** The connection options every command that talks to an agent has (options.ts). */
export interface ApiFlags {
  api: string
  tokenFile?: string
}

/** The client for a command's `--api` and `--token-file` (or MYCEL_API_TOKEN_FILE, which commander resolves). */
export function apiClient (flags: ApiFlags): ApiClient {
  return new ApiClient(flags.api, { tokenFile: flags.tokenFile })
}

export class ApiClient {
  readonly base: string
  private token?: Promise<string>

  constructor (api: string = DEFAULT_API, private readonly opts: { tokenFile?: string } = {}) {
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
    if (!res.ok) throw await this.answeredError(res)
    return res
  }

  async call<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.fetch(method, path, body, signal)
    if (!res.ok) throw await this.answeredError(res)
    const text = await res.text()
    return (text.length > 0 ? JSON.parse(text) : undefined) as T
  }

  private async fetch (method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const binary = body instanceof BinaryBody ? body : undefined
    const headers: Record<string, string> = {}
    if (binary !== undefined) headers['content-type'] = binary.contentType
    else if (body !== undefined) headers['content-type'] = 'application/json'
    if (this.opts.tokenFile !== undefined) headers.authorization = `Bearer ${await this.readToken(this.opts.tokenFile)}`
    try {
      return await fetch(this.base + path, {
        method,
        headers,
        body: binary !== undefined ? binary.bytes : body !== undefined ? JSON.stringify(body) : undefined,
        signal: signal ?? AbortSignal.timeout(30_000)
      })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
      throw new ApiUnreachableError(`no mycel agent answers at ${this.base} (${cause}); is \`mycel agent\` running? (--api HOST:PORT)`)
    }
  }

  /** The token in `file`, read once; UsageError (exit 2) when it cannot be read or is empty. */
  private async readToken (file: string): Promise<string> {
    this.token ??= readFile(file, 'utf8').then(text => {
      const token = text.trim()
      if (token === '') throw new UsageError(`admin API token file ${file} is empty (--token-file or ${TOKEN_FILE_ENV})`)
      return token
    }, (err: Error) => {
      throw new UsageError(`cannot read the admin API token file (--token-file or ${TOKEN_FILE_ENV}): ${err.message}`)
    })
    return await this.token
  }

  /**
   * The agent's error answer as the error it threw: a RequestError with the
   * same status (the exit code depends on it), ApiUnauthorizedError for a
   * missing or refused token (saying how to pass one), or a plain Error for
   * an internal failure of the agent (500).
   */
  private async answeredError (res: Response): Promise<Error> {
    let message = res.statusText
    try {
      const body = await res.json() as { error?: string }
      if (typeof body.error === 'string') message = body.error
    } catch { /* not JSON */ }
    if (res.status === 401) {
      const file = this.opts.tokenFile
      return new ApiUnauthorizedError(file === undefined
        ? `the agent at ${this.base} requires an admin API token: pass --token-file FILE or set ${TOKEN_FILE_ENV}=FILE, FILE being api.token in the agent's data dir (e.g. /var/lib/mycel/api.token)`
        : `the agent at ${this.base} refused the token in ${file} (${message}); is it the api.token of this agent's data dir?`)
    }
    return isErrorStatus(res.status) ? new RequestError(res.status, message) : new Error(message)
  }
}

/** A body sent as it is, not as JSON. */
class BinaryBody {
  constructor (readonly bytes: Uint8Array, readonly contentType: string) {}
}
