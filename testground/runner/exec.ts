/** Running host commands (ip, nft, tc) with captured output and named errors. */
import { spawn } from 'node:child_process'
import { CommandError } from './errors.js'

export interface ExecResult { code: number | null, stdout: string, stderr: string }

/** Runs argv[0] with the rest as arguments; `input` goes to stdin. Never throws. */
export async function run (argv: string[], input?: string): Promise<ExecResult> {
  return await new Promise(resolve => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', err => { resolve({ code: -1, stdout, stderr: stderr + err.message }) })
    child.on('close', code => { resolve({ code, stdout, stderr }) })
    child.stdin.on('error', () => { /* the command may exit before reading */ })
    child.stdin.end(input ?? '')
  })
}

/** Like run, but throws CommandError on a non-zero exit. */
export async function must (argv: string[], input?: string): Promise<string> {
  const r = await run(argv, input)
  if (r.code !== 0) throw new CommandError(argv, r.code, r.stderr)
  return r.stdout
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R> (items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
}
