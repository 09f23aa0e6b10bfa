/**
 * Admin API authentication (apiAuth token): the bearer check, the open
 * probe paths, the refusal metric and the per-address log limit
 * (daemon/api/auth.ts), the server's 401 answer, and the token file
 * (daemon/api-token.ts).
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { AUTH_LOG_INTERVAL_MS, AUTH_LOG_MAX_ADDRESSES, OPEN_PATHS, TokenAuth } from '../../daemon/api/auth.js'
import { ApiServer } from '../../daemon/api/server.js'
import { API_TOKEN_FILE, loadOrCreateApiToken, readApiToken } from '../../daemon/api-token.js'
import { exitCodeOf } from '../../daemon/cli/exit-codes.js'
import { startupErrorMessage } from '../../daemon/cli/startup-error.js'

const TOKEN = 'a'.repeat(64)

/** A logger that keeps the warn lines it is given. */
function recordingLogger (): { logger: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = { warn: (obj: Record<string, unknown>) => { lines.push(obj) } } as unknown as Logger
  return { logger, lines }
}

async function failures (registry: Registry): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('mycel_api_auth_failures_total')?.get()
  return Object.fromEntries((m?.values ?? []).map(v => [v.labels.reason as string, v.value]))
}

describe('admin API token check', () => {
  const quiet = recordingLogger().logger

  it('lets the right token through and refuses a missing header, another scheme and a wrong token, counting each by reason', async () => {
    const registry = new Registry()
    const auth = new TokenAuth({ token: TOKEN, logger: quiet, registry })
    expect(await failures(registry)).to.deep.equal({ missing: 0, scheme: 0, token: 0 })
    const check = (authorization: string | undefined, path = '/v1/status', method = 'GET'): string | undefined => auth.check(method, path, authorization, '10.0.0.1')?.reason
    expect(check(`Bearer ${TOKEN}`)).to.equal(undefined)
    expect(check(`bearer ${TOKEN}`), 'the scheme is case-insensitive').to.equal(undefined)
    expect(check(`Bearer ${TOKEN}`, '/v1/critical', 'POST')).to.equal(undefined)
    expect(check(undefined)).to.equal('missing')
    expect(check('')).to.equal('missing')
    expect(check(`Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`)).to.equal('scheme')
    expect(check(TOKEN), 'a token without the scheme').to.equal('scheme')
    expect(check('Bearer'), 'the scheme without a token').to.equal('scheme')
    expect(check(`Bearer ${TOKEN} extra`)).to.equal('scheme')
    expect(check(`Bearer ${'b'.repeat(64)}`), 'same length, other token').to.equal('token')
    expect(check(`Bearer ${TOKEN.slice(1)}`), 'shorter').to.equal('token')
    expect(check(`Bearer ${TOKEN}0`), 'longer').to.equal('token')
    expect(check(`Bearer ${TOKEN.toUpperCase()}`), 'the token is compared as sent').to.equal('token')
    expect(await failures(registry)).to.deep.equal({ missing: 2, scheme: 4, token: 4 })
  })

  it('answers the probes and the scraper without a token (GET only); every other path needs it, unknown ones too', () => {
    const auth = new TokenAuth({ token: TOKEN, logger: quiet })
    for (const path of OPEN_PATHS) expect(auth.check('GET', path, undefined, 'x'), path).to.equal(undefined)
    expect([...OPEN_PATHS].sort()).to.deep.equal(['/healthz', '/metrics', '/readyz'])
    for (const [method, path] of [['POST', '/metrics'], ['DELETE', '/healthz'], ['GET', '/metrics/'], ['GET', '/v1/status'], ['GET', '/v1/test/partition'], ['GET', '/'], ['GET', '/nope']]) {
      const refused = auth.check(method as string, path as string, undefined, 'x')
      expect(refused?.reason, `${method} ${path}`).to.equal('missing')
      expect(refused?.challenge).to.equal('Bearer realm="mycel"')
    }
    expect(auth.check('GET', '/v1/status', 'Bearer nope', 'x')?.challenge).to.equal('Bearer realm="mycel", error="invalid_token"')
  })

  it('accepts exactly the token: any other string is refused (property)', () => {
    const auth = new TokenAuth({ token: TOKEN, logger: quiet })
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 100 }).filter(s => !/\s/.test(s)), (candidate) => {
      const refused = auth.check('GET', '/v1/status', `Bearer ${candidate}`, 'x')
      return candidate === TOKEN ? refused === undefined : refused?.reason === 'token'
    }), { numRuns: 300 })
    fc.assert(fc.property(fc.webPath(), (path) => {
      const refused = auth.check('GET', path, undefined, 'x')
      return OPEN_PATHS.has(path) ? refused === undefined : refused?.reason === 'missing'
    }), { numRuns: 300 })
  })

  it('logs at most one line per address per interval, then says how many it did not log; remembers a bounded number of addresses', () => {
    const { logger, lines } = recordingLogger()
    let now = 1_000_000
    const auth = new TokenAuth({ token: TOKEN, logger, now: () => now })
    for (let i = 0; i < 100; i++) auth.check('GET', '/v1/status', undefined, '10.0.0.1')
    auth.check('GET', '/v1/status', 'Bearer x', '10.0.0.2')
    expect(lines.map(l => l.remote)).to.deep.equal(['10.0.0.1', '10.0.0.2'])
    now += AUTH_LOG_INTERVAL_MS - 1
    auth.check('GET', '/v1/status', undefined, '10.0.0.1')
    expect(lines).to.have.length(2)
    now += 1
    auth.check('GET', '/v1/members', undefined, '10.0.0.1')
    expect(lines).to.have.length(3)
    expect(lines[2]).to.include({ remote: '10.0.0.1', reason: 'missing', path: '/v1/members', notLogged: 100 })
    // A scan from many addresses: each logs once, and the memory of them stays bounded (the oldest goes first).
    for (let i = 0; i < AUTH_LOG_MAX_ADDRESSES + 10; i++) auth.check('GET', '/v1/status', undefined, `192.168.${i >> 8}.${i & 255}`)
    expect(lines).to.have.length(3 + AUTH_LOG_MAX_ADDRESSES + 10)
    expect((auth as unknown as { logged: Map<string, unknown> }).logged.size).to.equal(AUTH_LOG_MAX_ADDRESSES)
  })
})

describe('admin API server with apiAuth token', () => {
  let server: ApiServer
  let base: string
  const registry = new Registry()

  before(async () => {
    server = new ApiServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), auth: new TokenAuth({ token: TOKEN, logger: pino({ level: 'silent' }), registry }) })
    server.add(
      { method: 'GET', path: '/healthz', handler: () => ({ json: { status: 'ok' } }) },
      { method: 'GET', path: '/v1/status', handler: () => ({ json: { peerId: 'me' } }) },
      { method: 'POST', path: '/v1/critical', handler: (req) => ({ json: { got: req.body } }) }
    )
    await server.start()
    base = `http://127.0.0.1:${server.address().port}`
  })

  after(async () => { await server.stop() })

  it('answers 401 with a JSON error and a Bearer challenge without the token, and serves with it', async () => {
    const refused = await fetch(`${base}/v1/status`)
    expect(refused.status).to.equal(401)
    expect(refused.headers.get('www-authenticate')).to.equal('Bearer realm="mycel"')
    expect((await refused.json() as { error: string }).error).to.include('api.token')
    const wrong = await fetch(`${base}/v1/status`, { headers: { authorization: 'Bearer nope' } })
    expect(wrong.status).to.equal(401)
    expect(wrong.headers.get('www-authenticate')).to.include('invalid_token')
    await wrong.body?.cancel()
    const ok = await fetch(`${base}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.status).to.equal(200)
    expect(await ok.json()).to.deep.equal({ peerId: 'me' })
    const posted = await fetch(`${base}/v1/critical`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(await posted.json()).to.deep.equal({ got: { a: 1 } })
  })

  it('keeps /healthz open; an unknown path or method without the token is 401, not 404 or 405', async () => {
    expect((await fetch(`${base}/healthz`)).status).to.equal(200)
    for (const [method, path] of [['GET', '/v1/nothing'], ['PATCH', '/v1/status'], ['GET', '/v1/critical']]) {
      const res = await fetch(`${base}${path}`, { method })
      expect(res.status, `${method} ${path}`).to.equal(401)
      await res.body?.cancel()
    }
    const nf = await fetch(`${base}/v1/nothing`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(nf.status).to.equal(404)
  })

  it('refuses a large body without the token at once, without reading it', async () => {
    const res = await fetch(`${base}/v1/critical`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(8 * 1024 * 1024, 0x20) })
      .catch((err: Error) => err)
    // Either the 401 arrives, or the server closed the connection while the body was still being sent.
    if (res instanceof Response) expect(res.status).to.equal(401)
    expect((await failures(registry)).missing).to.be.greaterThan(0)
  })
})

describe('admin API token file', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-token-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('is made with mode 0600 and 32 random bytes in hex, and read back unchanged', async () => {
    const token = await loadOrCreateApiToken(dir)
    const path = join(dir, API_TOKEN_FILE)
    expect(token).to.match(/^[0-9a-f]{64}$/)
    expect((await stat(path)).mode & 0o777).to.equal(0o600)
    expect(await readFile(path, 'utf8')).to.equal(`${token}\n`)
    expect(await loadOrCreateApiToken(dir)).to.equal(token)
    expect(await loadOrCreateApiToken(await mkdtemp(join(tmpdir(), 'mycel-token-')))).to.not.equal(token)
  })

  it('refuses a file others may read, an empty and a garbled one: the file, the problem and the fix in one line, exit 2', async () => {
    const path = join(dir, API_TOKEN_FILE)
    const token = await loadOrCreateApiToken(dir)
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, mode)
      const err = await readApiToken(path).then(() => undefined, (e: Error & { recovery?: string }) => e)
      expect(err?.name, mode.toString(8)).to.equal('ApiTokenFileError')
      expect(err?.message).to.include(path)
      expect(err?.message).to.include(`mode 0${mode.toString(8)}`)
      expect(err?.recovery).to.include('chmod 600')
      const line = startupErrorMessage(err)
      expect(line.message.split('\n')).to.have.length(1)
      expect(exitCodeOf(line)).to.equal(2)
    }
    await chmod(path, 0o400)
    expect(await readApiToken(path), 'read-only for the owner is fine').to.equal(token)
    for (const [text, says] of [['', 'is empty'], ['\n', 'not a token'], ['secret\n', 'not a token'], [`${token}\n\n`, 'not a token'], [token.toUpperCase(), 'not a token']]) {
      await rm(path, { force: true })
      await writeFile(path, text, { mode: 0o600 })
      const err = await loadOrCreateApiToken(dir).then(() => undefined, (e: Error) => e)
      expect(err?.name, JSON.stringify(text)).to.equal('ApiTokenFileError')
      expect(err?.message).to.include(says)
    }
    await rm(path)
    await writeFile(path, token, { mode: 0o600 })
    expect(await loadOrCreateApiToken(dir), 'without the trailing newline').to.equal(token)
  })
})
