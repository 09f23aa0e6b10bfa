import { connect as netConnect } from 'node:net'
import { expect } from 'chai'
import { pino } from 'pino'
import { ApiServer } from '../../daemon/api/server.js'
import { Router } from '../../daemon/api/router.js'
import { RequestError } from '../../lib/errors.js'
import { SchemaViolationError } from '../../crdt/errors.js'

describe('admin API router', () => {
  it('matches params, distinguishes 404 from 405, decodes segments', () => {
    const r = new Router()
    r.add({ method: 'GET', path: '/v1/config/:ns/:key', handler: () => ({ json: 1 }) })
    const m = r.match('GET', '/v1/config/app/a%2Fb')
    expect(m).to.be.an('object')
    expect((m as { params: Record<string, string> }).params).to.deep.equal({ ns: 'app', key: 'a/b' })
    expect(r.match('PUT', '/v1/config/app/x')).to.equal('method')
    expect(r.match('GET', '/v1/nothing')).to.equal(undefined)
  })

  it('a literal path wins over a pattern, whatever order they were added in', () => {
    const r = new Router()
    const byName = { method: 'GET' as const, path: '/v1/components/:name', handler: () => ({ json: 'name' }) }
    const status = { method: 'GET' as const, path: '/v1/components/status', handler: () => ({ json: 'status' }) }
    r.add(byName)
    r.add(status)
    expect((r.match('GET', '/v1/components/status') as { route: unknown }).route).to.equal(status)
    expect((r.match('GET', '/v1/components/web') as { route: unknown }).route).to.equal(byName)
  })

  it('answers a parameter that is not valid percent-encoding with 400, naming it', () => {
    const r = new Router()
    r.add({ method: 'GET', path: '/v1/config/:ns/:key', handler: () => ({ json: 1 }) })
    for (const bad of ['%ff%fe', '%', 'a%2', '%ED%A0%80']) {
      expect(() => r.match('GET', `/v1/config/app/${bad}`), bad).to.throw(RequestError, /key in the path is not valid percent-encoded UTF-8/)
        .with.property('status', 400)
    }
  })
})

describe('admin API server', () => {
  let server: ApiServer
  let base: string

  before(async () => {
    server = new ApiServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
    server.add(
      { method: 'POST', path: '/echo', handler: (req) => ({ json: { got: req.body } }) },
      { method: 'GET', path: '/busy', handler: () => { throw new RequestError(409, 'conflict with the current state') } },
      { method: 'GET', path: '/boom', handler: () => { throw new Error('internal detail') } },
      { method: 'GET', path: '/refused', handler: () => { throw new SchemaViolationError('value at value.a is not JSON') } },
      { method: 'GET', path: '/things/:name', handler: (req) => ({ json: { name: req.params.name } }) },
      {
        method: 'POST',
        path: '/bytes',
        binary: { contentType: 'application/x-test', maxBytes: 2 * 1024 * 1024 },
        handler: (req) => ({ json: { bytes: (req.body as Uint8Array).byteLength, first: (req.body as Uint8Array)[0] } })
      }
    )
    await server.start()
    base = `http://127.0.0.1:${server.address().port}`
  })

  after(async () => { await server.stop(); await server.stop() })

  it('binds to loopback', () => {
    expect(server.address().host).to.equal('127.0.0.1')
  })

  it('echoes JSON bodies', async () => {
    const res = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(res.status).to.equal(200)
    expect(await res.json()).to.deep.equal({ got: { a: 1 } })
  })

  it('answers bad JSON with 400 and a message', async () => {
    const res = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' })
    expect(res.status).to.equal(400)
    expect((await res.json() as { error: string }).error).to.match(/not valid JSON/)
  })

  it('refuses oversized bodies with 413', async () => {
    const res = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(2 * 1024 * 1024) }) })
    expect(res.status).to.equal(413)
  })

  it('a binary route takes raw bytes of its content type up to its own limit, past the JSON limit', async () => {
    const big = Buffer.alloc(1024 * 1024 + 10, 7)
    const ok = await fetch(`${base}/bytes`, { method: 'POST', headers: { 'content-type': 'application/x-test' }, body: big })
    expect(ok.status).to.equal(200)
    expect(await ok.json()).to.deep.equal({ bytes: big.byteLength, first: 7 })
    const json = await fetch(`${base}/bytes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(json.status).to.equal(415)
    const over = await fetch(`${base}/bytes`, { method: 'POST', headers: { 'content-type': 'application/x-test' }, body: Buffer.alloc(2 * 1024 * 1024 + 1) })
    expect(over.status).to.equal(413)
  })

  it('maps status errors, unknown paths and methods to JSON errors', async () => {
    expect((await fetch(`${base}/busy`)).status).to.equal(409)
    const nf = await fetch(`${base}/nope`)
    expect(nf.status).to.equal(404)
    expect((await nf.json() as { error: string }).error).to.include('/nope')
    expect((await fetch(`${base}/echo`)).status).to.equal(405)
    expect((await fetch(`${base}/echo`, { method: 'PATCH' })).status).to.equal(405)
    expect((await fetch(`${base}/boom`)).status).to.equal(500)
    // A component's own error carries its status; no route maps it.
    const refused = await fetch(`${base}/refused`)
    expect(refused.status).to.equal(422)
    expect((await refused.json() as { error: string }).error).to.equal('value at value.a is not JSON')
  })

  it('answers malformed percent-encoding in the path with 400, not 500', async () => {
    expect(await (await fetch(`${base}/things/caf%C3%A9`)).json()).to.deep.equal({ name: 'café' })
    for (const bad of ['%ff%fe', '%']) {
      const res = await fetch(`${base}/things/${bad}`)
      expect(res.status, bad).to.equal(400)
      expect((await res.json() as { error: string }).error).to.match(/name in the path is not valid percent-encoded UTF-8/)
    }
    // A request target that is not a URL at all.
    const { port } = server.address()
    const reply = await new Promise<string>((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1', () => { s.write('GET http://[ HTTP/1.1\r\nhost: x\r\n\r\n') })
      s.once('data', d => { s.destroy(); resolve(d.toString()) })
      s.once('error', reject)
    })
    expect(reply).to.match(/^HTTP\/1\.1 400 /)
  })
})
