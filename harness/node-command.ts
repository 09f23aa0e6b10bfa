/**
 * How a built Node script (the `mycel` bin, dist/daemon/cli.js, or the
 * launcher) is started with the node flags its user gets. A user runs the
 * bin through its `#!` line, so node flags given to the bin (e.g. V8 heap
 * sizes: `#!/usr/bin/env -S node --max-semi-space-size=1`) live there. The
 * harness and the benchmarks start `process.execPath` themselves (the node
 * that runs them, whatever PATH says, and with room for `--cpu-prof`), so
 * they read the flags from that line: a flag added to the bin reaches every
 * test and benchmark agent without a second list to keep in step.
 *
 * Every agent the harness, the benchmarks and scripts/idle-cpu.mjs start
 * goes through `nodeCommand`. The launcher starts its agent with the same
 * flags from launcher/node-flags.ts, which a test keeps equal to the bin's
 * line.
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

/** What a `#!` line gives node: its flags and, through `env`, variables. */
export interface ShebangNode {
  nodeArgs: string[]
  env: Record<string, string>
}

/** Names the interpreter may go by. */
const NODE_NAMES = new Set(['node', 'nodejs'])

/**
 * Parse a script's first line. `#!/usr/bin/env node`, `#!/usr/bin/env -S
 * node --flag …` (with `NAME=value` assignments before node) and
 * `#!/usr/bin/node --flag` are understood; a line without `#!` gives no
 * flags (the script is run with `node script`). Throws when the line runs
 * something other than node: starting it with node would not be what a
 * user gets.
 */
export function parseShebang (firstLine: string): ShebangNode {
  if (!firstLine.startsWith('#!')) return { nodeArgs: [], env: {} }
  const words = firstLine.slice(2).trim().split(/\s+/).filter(w => w.length > 0)
  const env: Record<string, string> = {}
  let i = 0
  if (basename(words[0] ?? '') === 'env') {
    i++
    for (; i < words.length; i++) {
      const w = words[i]
      if (w === '-S' || w === '--split-string') continue
      // `-Snode`: env's split option with its string attached.
      if (w.startsWith('-S') && w.length > 2) { words[i] = w.slice(2); break }
      const eq = w.indexOf('=')
      if (!w.startsWith('-') && eq > 0) { env[w.slice(0, eq)] = w.slice(eq + 1); continue }
      break
    }
  }
  const interpreter = words[i]
  if (interpreter === undefined || !NODE_NAMES.has(basename(interpreter))) {
    throw new Error(`the script's #! line does not run node: ${JSON.stringify(firstLine.slice(0, 120))}`)
  }
  return { nodeArgs: words.slice(i + 1), env }
}

const cache = new Map<string, ShebangNode>()

/** The node flags and variables of `script`'s `#!` line (read once per path). */
export function scriptNode (script: string): ShebangNode {
  let found = cache.get(script)
  if (found === undefined) {
    const head = readFileSync(script, 'utf8').slice(0, 1024)
    found = parseShebang(head.split('\n', 1)[0])
    cache.set(script, found)
  }
  return found
}

/**
 * The command that starts `script` with `args` as its user gets it: this
 * node, the `#!` line's flags, then `extraNodeArgs` (e.g. `--cpu-prof`, so
 * a later flag may override the bin's), and the environment to add.
 */
export function nodeCommand (script: string, args: readonly string[], extraNodeArgs: readonly string[] = []): { command: string, args: string[], env: Record<string, string> } {
  const { nodeArgs, env } = scriptNode(script)
  return { command: process.execPath, args: [...nodeArgs, ...extraNodeArgs, script, ...args], env: { ...env } }
}
