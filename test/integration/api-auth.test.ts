/**
 * Admin API authentication with a real agent process (apiAuth token, issue
 * 15 item 5): the agent makes its token file (0600) at start; the CLI
 * without the token is refused with the way to pass it, and works with
 * `--token-file` and with MYCEL_API_TOKEN_FILE; the probes stay open. One
 * agent, alone (no bootstrap): a few seconds.
 */
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI } from '../../harness/agent-process.js'
import { loadOrCreateApiToken } from '../../daemon/api-token.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env }
  delete base.MYCEL_API_TOKEN_FILE
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

describe('admin API token with a real agent', function () {
  this.timeout(60_000)
  let agent: AgentProcess

  before(async () => { agent = await AgentProcess.start({ apiAuth: 'token', logLevel: 'warn' }) })
  after(async () => { await agent.cleanup() })

  it('the CLI is refused without the token, with how to pass it, and works with --token-file and MYCEL_API_TOKEN_FILE', async () => {
    expect((await stat(agent.tokenFile)).mode & 0o777).to.equal(0o600)
    const refused = await cli(['status', '--api', agent.api])
    expect(refused.code, refused.stderr).to.equal(1)
    expect(refused.stderr.trim().split('\n'), refused.stderr).to.have.length(1)
    expect(refused.stderr).to.match(/^mycel: .*requires an admin API token: pass --token-file FILE or set MYCEL_API_TOKEN_FILE=FILE/)

    const byFlag = await cli(['status', '--json', '--api', agent.api, '--token-file', agent.tokenFile])
    expect(byFlag.code, byFlag.stderr).to.equal(0)
    expect((JSON.parse(byFlag.stdout) as { peerId: string }).peerId).to.equal(agent.peerId)
    const byEnv = await cli(['config', 'set', 'app/k', '"v"', '--api', agent.api], { MYCEL_API_TOKEN_FILE: agent.tokenFile })
    expect(byEnv.code, byEnv.stderr).to.equal(0)
    expect((await agent.get<{ value: unknown }>('/v1/config/app/k')).value).to.equal('v')

    // The harness's own client sends the token too; the probes and the scraper need none.
    expect((await agent.get<{ peerId: string }>('/v1/status')).peerId).to.equal(agent.peerId)
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`http://${agent.api}${path}`)).status, path).to.equal(200)
    const metrics = await (await fetch(`http://${agent.api}/metrics`)).text()
    expect(metrics).to.match(/^mycel_api_auth_failures_total\{reason="missing"\} [1-9]/m)
  })

  it('a token file others may read stops the agent at start: one line naming it and the fix, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mycel-api-auth-'))
    try {
      // As a first start makes it, then opened up.
      await loadOrCreateApiToken(dir)
      await chmod(join(dir, 'api.token'), 0o644)
      const r = await cli(['agent', '--data-dir', dir, '--api-auth', 'token', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--profile', 'test', '--log-level', 'silent'])
      expect(r.code, r.stderr).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.include(join(dir, 'api.token'))
      expect(r.stderr).to.include('chmod 600')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
