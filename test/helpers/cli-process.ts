/**
 * The real CLI as a child process, for integration tests: `cli(...args)`
 * resolves with the exit code and output, `ok(...args)` asserts exit 0 and
 * returns stdout.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { CLI } from '../../harness/agent-process.js'

export interface CliRun { code: number | null, stdout: string, stderr: string }

export async function cli (...args: string[]): Promise<CliRun> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

export async function ok (...args: string[]): Promise<string> {
  const r = await cli(...args)
  assert.equal(r.code, 0, `mycel ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** True while a process with this pid exists. */
export function alive (pid: number | null | undefined): boolean {
  if (pid === null || pid === undefined) return false
  try { process.kill(pid, 0); return true } catch { return false }
}
