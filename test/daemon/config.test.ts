import { expect } from 'chai'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkReferencedFiles, defaults, readConfigFile, resolveConfig } from '../../daemon/config.js'
import { ROLE_REGISTRY } from '../../managers/registry.js'

/** Directories tmpFile made, removed after the suite. */
const made: string[] = []

async function tmpFile (name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-cfg-'))
  made.push(dir)
  const p = join(dir, name)
  await writeFile(p, text)
  return p
}

function errorOf (fn: () => unknown): Error {
  try { fn() } catch (err) { return err as Error }
  throw new Error('expected an error')
}

async function asyncErrorOf (p: Promise<unknown>): Promise<Error> {
  try { await p } catch (err) { return err as Error }
  throw new Error('expected an error')
}

describe('agent config', () => {
  after(async () => { await Promise.all(made.map(async d => { await rm(d, { recursive: true, force: true }) })) })
  it('layers defaults < file < flags', async () => {
    const file = await readConfigFile(await tmpFile('a.yaml', 'region: eu-west\nprofile: wan\nbootstrap:\n  - /ip4/10.0.0.1/tcp/4100\n'))
    const cfg = resolveConfig(defaults(), file, { profile: 'test' })
    expect(cfg.region).to.equal('eu-west')
    expect(cfg.profile).to.equal('test')
    expect(cfg.bootstrap).to.deep.equal(['/ip4/10.0.0.1/tcp/4100'])
    expect(cfg.api).to.equal('127.0.0.1:8900')
  })

  it('takes its role list from the role registry', () => {
    const names = ROLE_REGISTRY.map(r => r.name)
    expect(defaults().roles).to.deep.equal(names)
    for (const r of names) expect(resolveConfig(defaults(), { roles: [r] }).roles).to.deep.equal([r])
    expect(errorOf(() => resolveConfig(defaults(), { roles: ['network', 'nope' as 'network'] })).message).to.match(/invalid value for "roles\.1"/)
  })

  it('reads JSON files too', async () => {
    const file = await readConfigFile(await tmpFile('a.json', '{"region":"r1","listen":["/ip4/127.0.0.1/tcp/0"]}'))
    expect(resolveConfig(defaults(), file).listen).to.deep.equal(['/ip4/127.0.0.1/tcp/0'])
  })

  it('names the unknown key', async () => {
    const err = await asyncErrorOf(readConfigFile(await tmpFile('a.yaml', 'regoin: x\n')))
    expect(err.name).to.equal('ConfigError')
    expect(err.message).to.include('"regoin"')
  })

  it('names the key with a bad value', async () => {
    const err = await asyncErrorOf(readConfigFile(await tmpFile('a.yaml', 'listen: ["not a multiaddr"]\n')))
    expect(err.message).to.include('listen')
    const err2 = errorOf(() => resolveConfig(defaults(), { api: 'localhost' }))
    expect(err2.message).to.include('"api"')
    const err3 = errorOf(() => resolveConfig(defaults(), { api: '127.0.0.1:70000' }))
    expect(err3.message).to.include('port out of range')
    const err4 = errorOf(() => resolveConfig(defaults(), { region: 'Bad Region' }))
    expect(err4.message).to.include('"region"')
  })

  it('takes an OTLP/HTTP traces URL (otlpEndpoint): http or https, no credentials', () => {
    expect(resolveConfig(defaults()).otlpEndpoint).to.equal(undefined)
    expect(resolveConfig(defaults(), { otlpEndpoint: 'http://collector:4318/v1/traces' }).otlpEndpoint).to.equal('http://collector:4318/v1/traces')
    expect(errorOf(() => resolveConfig(defaults(), { otlpEndpoint: 'collector:4318' })).message).to.include('otlpEndpoint')
    expect(errorOf(() => resolveConfig(defaults(), { otlpEndpoint: 'grpc://collector:4317' })).message).to.include('only http and https')
    expect(errorOf(() => resolveConfig(defaults(), { otlpEndpoint: 'https://u:p@collector/v1/traces' })).message).to.include('credentials')
  })

  it('reports unparseable YAML and missing files clearly', async () => {
    const err = await asyncErrorOf(readConfigFile(await tmpFile('a.yaml', 'a: [unclosed\n')))
    expect(err.message).to.match(/not valid YAML/)
    const err2 = await asyncErrorOf(readConfigFile('/nonexistent/mycel.yaml'))
    expect(err2.message).to.match(/cannot read config file/)
  })

  it('treats a key written without a value (YAML null) as not set', async () => {
    const file = await readConfigFile(await tmpFile('a.yaml', 'region:\nbootstrap:\n  # - /ip4/10.0.0.1/tcp/4100/p2p/12D3KooW...\nlisten:\n  - /ip4/127.0.0.1/tcp/0\n'))
    const cfg = resolveConfig(defaults(), file)
    expect(cfg.bootstrap).to.deep.equal([])
    expect(cfg.region).to.equal('default')
    expect(cfg.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/0'])
  })

  it('keeps an admin API without authentication on loopback; off loopback it needs apiAuth token', () => {
    expect(defaults().apiAuth).to.equal('none')
    for (const api of ['0.0.0.0:8900', '10.1.2.3:8900', '[::]:8900', 'myhost:8900']) {
      const err = errorOf(() => resolveConfig(defaults(), { api }))
      expect(err.name, api).to.equal('ConfigError')
      expect(err.message).to.include('--api-auth token')
      expect(err.message.split('\n')).to.have.length(1)
      expect(resolveConfig(defaults(), { api, apiAuth: 'token' }).api).to.equal(api)
    }
    for (const api of ['127.0.0.1:0', '127.8.9.1:8900', '[::1]:8900', 'localhost:8900']) {
      expect(resolveConfig(defaults(), { api }).api).to.equal(api)
      expect(resolveConfig(defaults(), { api, apiAuth: 'token' }).apiAuth).to.equal('token')
    }
    expect(errorOf(() => resolveConfig(defaults(), { apiAuth: 'password' as 'token' })).message).to.include('"apiAuth"')
  })

  it('reads apiAuth from a file; the removed apiInsecureRemote says what replaced it', async () => {
    const file = await readConfigFile(await tmpFile('a.yaml', 'api: 0.0.0.0:8900\napiAuth: token\n'))
    expect(resolveConfig(defaults(), file).apiAuth).to.equal('token')
    const old = await asyncErrorOf(readConfigFile(await tmpFile('a.yaml', 'api: 0.0.0.0:8900\napiInsecureRemote: true\n')))
    expect(old.name).to.equal('ConfigError')
    expect(old.message).to.include('apiAuth: token')
  })

  it('checks the files the config names before anything starts (ConfigError)', async () => {
    const e1 = await asyncErrorOf(checkReferencedFiles(resolveConfig(defaults(), { genesis: '/nonexistent/genesis.json' })))
    expect(e1.name).to.equal('ConfigError')
    expect(e1.message).to.include('/nonexistent/genesis.json')
    const e2 = await asyncErrorOf(checkReferencedFiles(resolveConfig(defaults(), { networkKey: await tmpFile('k', 'not a key') })))
    expect(e2.name).to.equal('ConfigError')
    expect(e2.message).to.include('PSK')
  })
})
