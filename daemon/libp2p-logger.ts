/**
 * libp2p's own debug logging, as a component logger that costs nothing while
 * it is off.
 *
 * libp2p asks its component logger for a new named logger for every
 * connection, every stream and every protocol negotiation (`forComponent`,
 * `newScope`). @libp2p/logger builds each one from three `weald` (debug)
 * instances, and every instance matches its name against the enabled patterns
 * and asks whether stderr is a terminal (for colours) when it is made — also
 * when nothing is enabled and the logger will never print. In a CPU profile of
 * an agent joining a 30-node network that was ≈ 3 % of its time
 * (docs/performance.md, "Debug loggers"); a probe or a config round is a new
 * stream, so it is paid every second after the join too.
 *
 * weald reads its patterns from `DEBUG` once, when it loads, and nothing in
 * mycel enables patterns later: without `DEBUG` no libp2p logger could ever
 * print, so every request gets one shared silent logger. With `DEBUG` set
 * (`DEBUG='libp2p:*' mycel agent …`, the way libp2p documents) libp2p gets
 * @libp2p/logger's own loggers, unchanged.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'

const silent: Logger = Object.assign((): void => {}, {
  enabled: false,
  error: (): void => {},
  trace: (): void => {},
  newScope: (): Logger => silent
})
const SILENT: ComponentLogger = { forComponent: () => silent }

/** The component logger to give libp2p: silent unless `DEBUG` names something to print. */
export function libp2pLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger {
  return (env.DEBUG ?? '').trim() === '' ? SILENT : defaultLogger()
}
