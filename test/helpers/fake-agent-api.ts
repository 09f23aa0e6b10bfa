/**
 * A local HTTP server standing in for an agent's admin API in CLI tests:
 * it records every request and answers with `reply` (status and JSON body).
 * `run(...args)` runs the CLI in-process against it, capturing stderr and
 * process.stdout (where daemon/cli/output.ts prints).
 */
import { strict as assert } from 'node:assert'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { runCli } from '../../daemon/cli/program.js'

export interface Seen { method: string, url: string, body: string, authorization?: string }

export interface FakeAgentApi {
  api: string
  seen: Seen[]
  reply: { status: number, body: unknown }
  run: (...args: string[]) => Promise<{ code: number, stderr: string, stdout: string }>
  close: () => Promise<void>
  /** Every case exits 2 with one stderr line mentioning its text, and nothing reaches the agent. */
  expectUsageErrors: (cases: Array<[string[], string]>) => Promise<void>
}

export async function fakeAgentApi (): Promise<FakeAgentApi> {
  const fake: Partial<FakeAgentApi> & { seen: Seen[], reply: { status: number, body: unknown } } = { seen: [], reply: { status: 200, body: {} } }
  const server: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      fake.seen.push({ method: req.method ?? '', url: req.url ?? '', body, ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}) })
      res.statusCode = fake.reply.status
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(fake.reply.body))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const api = `127.0.0.1:${(server.address() as AddressInfo).port}`
  const run: FakeAgentApi['run'] = async (...args) => {
    let stderr = ''
    let stdout = ''
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string) => { stdout += chunk; return true }) as typeof process.stdout.write
    try {
      const code = await runCli([...args, '--api', api], { writeErr: str => { stderr += str }, writeOut: str => { stdout += str } })
      return { code, stderr, stdout }
    } finally { process.stdout.write = write }
  }
  const expectUsageErrors: FakeAgentApi['expectUsageErrors'] = async (cases) => {
    for (const [args, mentions] of cases) {
      const r = await run(...args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.ok(r.stderr.includes(mentions), `${args.join(' ')}: ${r.stderr} should mention ${mentions}`)
    }
    assert.deepEqual(fake.seen, [])
  }
  return Object.assign(fake, { api, run, expectUsageErrors, close: async () => { await new Promise(resolve => server.close(resolve)) } }) as FakeAgentApi
}
