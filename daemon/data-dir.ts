/**
 * Where an agent keeps its state unless told otherwise. On its own so that
 * `mycel init` and `mycel id` need not load the agent config's schema.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'

export function defaultDataDir (): string {
  return process.env.MYCEL_DATA_DIR_DEFAULT ?? join(homedir(), '.mycel')
}
