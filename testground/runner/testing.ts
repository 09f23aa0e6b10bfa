/** Helpers for the runner's integration tests (kept here because test/helpers belongs to the lead). */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from './run.js'

export const RUNNER_CLI = join(REPO_ROOT, 'dist/testground/runner/cli.js')

/** Root, iproute2 and nftables: what namespace mode needs. */
export const canNetns = process.getuid?.() === 0 &&
  spawnSync('ip', ['-V']).status === 0 && spawnSync('nft', ['--version']).status === 0

/** Runs the built runner CLI; on timeout sends SIGINT (so it still cleans up) and rejects. */
export async function runCli (args: string[], timeoutMs: number): Promise<{ code: number | null, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.stdout.resume()
    const timer = setTimeout(() => { child.kill('SIGINT'); reject(new Error(`runner did not finish in ${timeoutMs} ms:\n${stderr}`)) }, timeoutMs)
    child.on('close', code => { clearTimeout(timer); resolve({ code, stderr }) })
  })
}

/** The 6-hex tag of the run a runner's stderr announces (`run <id>: ...`); names of its namespaces and links carry it. */
export function runTag (stderr: string): string {
  const m = /\brun ([0-9a-f]{20}):/.exec(stderr)
  if (m === null) throw new Error(`no run id in runner output:\n${stderr}`)
  return m[1].slice(0, 6)
}

/** Namespaces and links of run `tag` still present (other runs on the machine are left out). */
export function leftovers (tag: string): string[] {
  const ns = spawnSync('ip', ['netns', 'list']).stdout.toString().split('\n').filter(l => l.startsWith(`tg-${tag}-`))
  const links = spawnSync('ip', ['-o', 'link', 'show']).stdout.toString().split('\n')
    .filter(l => new RegExp(`^\\d+: (tgbr-${tag}|tgv${tag}|tgp${tag})`).test(l))
  return [...ns, ...links]
}
