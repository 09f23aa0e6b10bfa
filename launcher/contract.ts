/**
 * What the launcher and every agent build agree on. The launcher is the
 * base install's and changes rarely, while the agent it runs may be any
 * newer build: each value here is a wire format between versions, so it is
 * only ever extended, never changed (docs/core-update.md).
 */
import { join } from 'node:path'

/**
 * The agent's exit code for "start what the launcher state says now" (a
 * core update wrote `trying`). 75 is sysexits' EX_TEMPFAIL ("try again");
 * Node itself exits with 1 to 14 on its own errors, and the agent's own
 * codes are 0, 1, 2 and 130, so it cannot be mistaken for a crash.
 */
export const EXIT_SWITCH_CORE = 75

/** Set to "1" in the agent's environment by the launcher: core updates are possible. */
export const LAUNCHER_ENV = 'MYCEL_LAUNCHER'

/** The launcher's state file: the good build, the build on trial, the builds that failed to boot. */
export function coreStatePath (dataDir: string): string {
  return join(dataDir, 'core', 'state')
}

/** Where the agent writes `{pid, api, ...}` once it serves (daemon/agent-parts.ts infoFile); the launcher polls it. */
export function agentInfoPath (dataDir: string): string {
  return join(dataDir, 'agent.json')
}
