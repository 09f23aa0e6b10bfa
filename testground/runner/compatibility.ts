/**
 * Which builders each testground runner accepts, as testground's engine checks before it queues a run
 * (pkg/engine/engine.go `QueueRun`: "unknown runner: X", then "runner X is incompatible with builder
 * Y"; the lists are each runner's `CompatibleBuilders()` in pkg/runner at caa5614).
 *
 * The local runner runs every composition the same way whatever runner it names, so without this check
 * a composition could pass here and be refused there before anything starts (`cluster:k8s` with the
 * mycel plan's `docker:node` did).
 */
import { CompositionError } from './errors.js'

/** testground's runners and the builders each one accepts. */
export const COMPATIBLE_BUILDERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['local:docker', ['docker:go', 'docker:node', 'docker:generic']],
  ['local:exec', ['exec:go']],
  ['cluster:swarm', ['docker:go']],
  ['cluster:k8s', ['docker:go', 'docker:generic']]
])

/** Throws CompositionError with testground's message when the runner is unknown or refuses a builder. */
export function checkRunnerBuilders (runner: string, builders: Iterable<string>): void {
  const accepted = COMPATIBLE_BUILDERS.get(runner)
  if (accepted === undefined) throw new CompositionError(`unknown runner: ${runner}`)
  for (const b of builders) {
    if (!accepted.includes(b)) {
      throw new CompositionError(`runner ${runner} is incompatible with builder ${b} (${runner} accepts ${accepted.join(', ')})`)
    }
  }
}
