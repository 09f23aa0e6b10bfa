/**
 * The entry of the agent's CommonJS bundle (scripts/post-build.mjs), which
 * code-cache.ts runs with V8's code cache: the same command line as cli.ts,
 * loaded as one script V8 need not compile again. Being CommonJS, nothing the
 * agent loads may use top-level await (esbuild refuses to build it).
 */
import './polyfill.js'
import { main } from './cli-main.js'

// As an unhandled rejection of cli.ts's top-level await would end it.
main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
