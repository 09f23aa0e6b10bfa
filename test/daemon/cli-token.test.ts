/**
 * The CLI's admin API token (apiAuth token on the agent): every command that
 * has `--api` has `--token-file` (or MYCEL_API_TOKEN_FILE) and sends the
 * file's token as a bearer token; a 401 says how to pass one; a token file
 * that cannot be read is one line, exit 2, before anything is sent.
 * In-process (runCli) against a local HTTP server standing in for the agent.
 */
import { expect } from 'chai'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { createProgram } from '../../daemon/cli/program.js'
import { TOKEN_FILE_ENV } from '../../daemon/cli/client.js'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

const TOKEN = 'c0ffee'.repeat(10) + 'abcd'

function commands (c: Command, path: string[] = []): Array<{ path: string, cmd: Command }> {
  return c.commands.flatMap(sub => [{ path: [...path, sub.name()].join(' '), cmd: sub }, ...commands(sub, [...path, sub.name()])])
}

describe('CLI: admin API token', () => {
  let agent: FakeAgentApi
  let dir: string
  let tokenFile: string
  before(async () => {
    agent = await fakeAgentApi()
    dir = await mkdtemp(join(tmpdir(), 'mycel-cli-token-'))
    tokenFile = join(dir, 'api.token')
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
  })
  after(async () => { await agent.close(); await rm(dir, { recursive: true, force: true }) })
  beforeEach(() => { agent.seen.length = 0; agent.reply = { status: 200, body: {} }; delete process.env[TOKEN_FILE_ENV] })
  afterEach(() => { delete process.env[TOKEN_FILE_ENV] })

  it('every command with --api also takes --token-file, from MYCEL_API_TOKEN_FILE too', async () => {
    const withApi = commands(await createProgram()).filter(({ path, cmd }) => path !== 'agent' && cmd.options.some(o => o.long === '--api'))
    expect(withApi.length).to.be.greaterThan(15)
    for (const { path, cmd } of withApi) {
      const opt = cmd.options.find(o => o.long === '--token-file')
      expect(opt, path).to.not.equal(undefined)
      expect(opt?.envVar, path).to.equal(TOKEN_FILE_ENV)
    }
  })

  it('without a token file a 401 says how to pass one (exit 1, one line); no Authorization is sent', async () => {
    agent.reply = { status: 401, body: { error: 'this admin API requires a token' } }
    const r = await agent.run('members')
    expect(r.code).to.equal(1)
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
    expect(r.stderr).to.include('--token-file FILE')
    expect(r.stderr).to.include(TOKEN_FILE_ENV)
    expect(agent.seen[0]?.authorization).to.equal(undefined)
  })

  it('sends the token of --token-file, or of MYCEL_API_TOKEN_FILE; the flag wins', async () => {
    expect((await agent.run('members', '--json', '--token-file', tokenFile)).code).to.equal(0)
    expect(agent.seen.at(-1)?.authorization).to.equal(`Bearer ${TOKEN}`)
    process.env[TOKEN_FILE_ENV] = tokenFile
    expect((await agent.run('config', 'set', 'app/k', '1')).code).to.equal(0)
    expect(agent.seen.at(-1)).to.include({ method: 'PUT', authorization: `Bearer ${TOKEN}` })
    const other = join(dir, 'other.token')
    await writeFile(other, 'f'.repeat(64), { mode: 0o600 })
    expect((await agent.run('members', '--json', '--token-file', other)).code).to.equal(0)
    expect(agent.seen.at(-1)?.authorization).to.equal(`Bearer ${'f'.repeat(64)}`)
  })

  it('a refused token names the file', async () => {
    agent.reply = { status: 401, body: { error: 'the admin API token is not this agent\'s' } }
    const r = await agent.run('members', '--token-file', tokenFile)
    expect(r.code).to.equal(1)
    expect(r.stderr).to.include(`refused the token in ${tokenFile}`)
  })

  it('a token file that cannot be read or is empty: one line, exit 2, nothing sent', async () => {
    const empty = join(dir, 'empty.token')
    await writeFile(empty, '\n')
    for (const [file, says] of [[join(dir, 'missing.token'), 'ENOENT'], [dir, 'EISDIR'], [empty, 'is empty']]) {
      const r = await agent.run('status', '--token-file', file as string)
      expect(r.code, r.stderr).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.include(says)
    }
    process.env[TOKEN_FILE_ENV] = join(dir, 'missing.token')
    const r = await agent.run('members')
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include(TOKEN_FILE_ENV)
    expect(agent.seen).to.have.length(0)
  })
})
