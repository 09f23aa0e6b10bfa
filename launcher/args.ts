/**
 * What the launcher reads from the agent's arguments, which it passes on
 * untouched: the data dir (its state lives there) and the timer profile
 * (its tunables). No config file is read: the launcher has no YAML parser.
 */
import type { LAUNCHER_PROFILES } from './tunables.js'

/** `--data-dir DIR`, `--data-dir=DIR` or `-d DIR`; the last one wins, as for the agent. */
export function dataDirOf (args: readonly string[]): string | undefined {
  let dir: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if ((a === '--data-dir' || a === '-d') && i + 1 < args.length) dir = args[++i]
    else if (a.startsWith('--data-dir=')) dir = a.slice('--data-dir='.length)
  }
  return dir
}

/** The profile the agent's arguments name: `--profile X` / `--profile=X`, `--dev` (test), else lan. */
export function profileOf (args: readonly string[]): keyof typeof LAUNCHER_PROFILES {
  let profile: string | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a === '--profile') profile = args[i + 1]
    else if (a.startsWith('--profile=')) profile = a.slice('--profile='.length)
    else if (a === '--dev' && profile === undefined) profile = 'test'
  }
  return profile === 'wan' || profile === 'test' ? profile : 'lan'
}
