/**
 * What the `mycel` process does once its code is loaded, whichever way it
 * was loaded: the ES module entry (cli.ts) for every command, or the agent's
 * CommonJS bundle started from V8's code cache (cli-agent.ts, code-cache.ts).
 */
import { runCli } from './cli/program.js'
import { guardOutput } from './cli/output.js'

export async function main (argv: readonly string[]): Promise<void> {
  guardOutput()
  const code = await runCli([...argv])
  // On success the process ends by itself (or, for `mycel agent`, runs on).
  if (code !== 0) process.exit(code)
}
