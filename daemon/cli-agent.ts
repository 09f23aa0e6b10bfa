/**
 * The entry of the agent's CommonJS bundle (scripts/post-build.mjs), which
 * code-cache.ts runs with V8's code cache: the same command line as cli.ts,
 * loaded as one script V8 need not compile again.
 */
import './polyfill.js'
import { main } from './cli-main.js'

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`mycel: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
