/**
 * `mycel component deploy|undeploy|deployments` in-process (runCli): bad
 * input exits 2 with one line before the agent is contacted (checked with
 * the same parseDeployment receivers run); good input becomes the PUT the
 * admin API expects. A local HTTP server stands in for the agent and counts
 * what reaches it.
 */
import { expect } from 'chai'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runCli } from '../../daemon/cli/program.js'

interface Seen { method: string, url: string, body: string }

describe('CLI: component deploy / undeploy / deployments', () => {
  let server: Server
  let api: string
  const seen: Seen[] = []
  let reply: unknown = {}

  before(async () => {
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => { body += c.toString() })
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body })
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(reply))
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    api = `127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => { await new Promise(resolve => server.close(resolve)) })
  beforeEach(() => { seen.length = 0 })

  const run = async (...args: string[]): Promise<{ code: number, stderr: string, stdout: string }> => {
    let stderr = ''
    let stdout = ''
    const code = await runCli([...args, '--api', api], { writeErr: str => { stderr += str }, writeOut: str => { stdout += str } })
    return { code, stderr, stdout }
  }

  it('bad input exits 2 with one line naming the problem, and nothing reaches the agent', async () => {
    for (const [args, mentions] of [
      [['component', 'deploy', 'web'], 'NAME@VERSION'],
      [['component', 'deploy', '@1.0.0'], 'NAME@VERSION'],
      [['component', 'deploy', 'web@'], 'NAME@VERSION'],
      [['component', 'deploy', 'Web@1.0.0'], 'name:'],
      [['component', 'deploy', 'web@1.0'], 'version:'],
      [['component', 'deploy', 'web@latest'], 'version:'],
      [['component', 'deploy', 'web@1.0.0', '--count', '0'], 'count:'],
      [['component', 'deploy', 'web@1.0.0', '--count', '4097'], 'count:'],
      [['component', 'deploy', 'web@1.0.0', '--count', 'many'], '--count'],
      [['component', 'deploy', 'web@1.0.0', '--region', 'EU WEST'], 'regions.0:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', 'disk'], 'KEY=VALUE'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '=ssd'], 'KEY=VALUE'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '-bad=ssd'], 'constraints.-bad:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', '__proto__=x'], 'constraints.__proto__:'],
      [['component', 'deploy', 'web@1.0.0', '--constraint', 'disk=ssd', '--constraint', 'disk=hdd'], 'disk given twice']
    ] as Array<[string[], string]>) {
      const r = await run(...args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
      expect(r.stderr).to.match(/^mycel: /)
      expect(r.stderr, args.join(' ')).to.include(mentions)
    }
    expect(seen).to.deep.equal([])
  })

  it('deploy sends the parsed record (regions sorted, name in the path) with waitFor', async () => {
    reply = { namespace: 'mycel.deployments', key: 'web', writer: 'w', seq: 3, acked: ['a'] }
    const r = await run('component', 'deploy', 'web@1.2.0', '--region', 'us', '--region', 'eu', '--count', '2', '--constraint', 'disk=ssd', '--wait-for', '1')
    expect(r.code, r.stderr).to.equal(0)
    expect(seen).to.have.length(1)
    expect(seen[0].method).to.equal('PUT')
    expect(seen[0].url).to.equal('/v1/deployments/web?waitFor=1')
    expect(JSON.parse(seen[0].body)).to.deep.equal({ version: '1.2.0', regions: ['eu', 'us'], count: 2, constraints: { disk: 'ssd' } })
  })

  it('undeploy deletes and deployments lists', async () => {
    reply = { deployments: [{ name: 'web', version: '1.2.0', writer: 'w' }] }
    const list = await run('component', 'deployments', '--json')
    expect(list.code, list.stderr).to.equal(0)
    reply = { deleted: true, seq: 4, acked: [] }
    const del = await run('component', 'undeploy', 'web')
    expect(del.code, del.stderr).to.equal(0)
    expect(seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['GET /v1/deployments', 'DELETE /v1/deployments/web'])
  })

  it('deployments NAME shows where a counted deployment is placed, per region', async () => {
    // Tables go to process.stdout (cli/output.ts): capture it for this test.
    const write = process.stdout.write.bind(process.stdout)
    let out = ''
    const shown = async (...args: string[]): Promise<string> => {
      out = ''
      process.stdout.write = ((chunk: string) => { out += chunk; return true }) as typeof process.stdout.write
      try { expect((await run(...args)).code).to.equal(0) } finally { process.stdout.write = write }
      return out
    }
    reply = { name: 'web', version: '1.2.0', count: 2, writer: 'w', placements: [{ region: 'eu', term: 7, writer: 'h', assignments: [{ node: '12D3KooWa', since: 0 }, { node: '12D3KooWb', since: 0 }] }] }
    const table = await shown('component', 'deployments', 'web')
    expect(seen.map(s => `${s.method} ${s.url}`)).to.deep.equal(['GET /v1/deployments/web'])
    expect(table).to.match(/REGION\s+TERM\s+NODE\s+SINCE/)
    expect(table).to.match(/eu\s+7\s+12D3KooWa\s+1970-01-01T00:00:00.000Z/)
    expect(table).to.match(/eu\s+7\s+12D3KooWb/)
    reply = { name: 'sys', version: '1.0.0', writer: 'w' }
    expect(await shown('component', 'deployments', 'sys')).to.include('system deployment')
    reply = { name: 'web', version: '1.2.0', count: 2, writer: 'w', placements: [] }
    expect(await shown('component', 'deployments', 'web')).to.include('not placed yet')
  })
})
