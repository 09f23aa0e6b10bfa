/**
 * Serf agents side by side with mycel (Debian's `serf`, memberlist LAN
 * defaults) so membership numbers come with a reference measured in the same
 * run on the same machine.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort } from '../../harness/agent-process.js'

const run = promisify(execFile)

export interface SerfAgent { name: string, bind: number, rpc: number, child: ChildProcess }

export async function serfAvailable (): Promise<boolean> {
  try { await run('serf', ['version']); return true } catch { return false }
}

export async function startSerf (name: string, join?: number): Promise<SerfAgent> {
  const bind = await freePort()
  const rpc = await freePort()
  const args = ['agent', '-node', name, '-bind', `127.0.0.1:${bind}`, '-rpc-addr', `127.0.0.1:${rpc}`, '-log-level', 'err']
  if (join !== undefined) args.push('-retry-join', `127.0.0.1:${join}`, '-retry-interval', '1s')
  const child = spawn('serf', args, { stdio: 'ignore' })
  return { name, bind, rpc, child }
}

/** Members as `serf members -format json` reports them, or undefined while the RPC is not up. */
export async function serfMembers (a: SerfAgent): Promise<Array<{ name: string, status: string }> | undefined> {
  try {
    const { stdout } = await run('serf', ['members', '-rpc-addr', `127.0.0.1:${a.rpc}`, '-format', 'json'], { timeout: 5000 })
    return (JSON.parse(stdout) as { members: Array<{ name: string, status: string }> }).members
  } catch {
    return undefined
  }
}

export function stopSerf (agents: SerfAgent[]): void {
  for (const a of agents) a.child.kill('SIGKILL')
}
