/**
 * The launcher's tunables, one set per timer profile. The launcher reads
 * the profile from the agent's own `--profile` flag (or `--dev`, which
 * implies `test`); a profile set only in the config file is not seen (the
 * launcher parses no YAML: it uses Node's built-ins only), and lan's values
 * suit wan too.
 */

export interface LauncherTunables {
  /**
   * A trial build must be ready (`/readyz` 200: started, no component
   * stopped on a fault, rejoined a peer when it has bootstrap peers) this
   * long after it was started, ms; else it is stopped and the attempt
   * counts. The agent replays its durable state and redials its peers
   * before it is ready: seconds on a healthy node, so two minutes tell a
   * slow start from a build that never comes up.
   */
  readyDeadlineMs: number
  /**
   * Starts a trial build gets before it is marked bad and the good build
   * starts again. Two: one more start absorbs a transient failure (a peer
   * briefly away, a port still held), more would only lengthen the outage a
   * broken build causes (RAUC's default is 3 boots of a whole machine).
   */
  maxAttempts: number
  /** How often readiness is checked during a trial, ms (agent.json, then GET /readyz). */
  readyPollMs: number
  /**
   * After SIGTERM to the agent, SIGKILL follows this much later, ms. Below
   * deploy/mycel.service's TimeoutStopSec=20 s, so the launcher, not
   * systemd, ends an agent that does not stop.
   */
  stopTimeoutMs: number
}

const STANDARD: LauncherTunables = { readyDeadlineMs: 120_000, maxAttempts: 2, readyPollMs: 1_000, stopTimeoutMs: 15_000 }

export const LAUNCHER_PROFILES: Readonly<Record<'lan' | 'wan' | 'test', LauncherTunables>> = {
  lan: STANDARD,
  wan: STANDARD,
  // Fast: a build that never becomes ready is given up on within a minute; a test agent is ready in seconds.
  test: { readyDeadlineMs: 30_000, maxAttempts: 2, readyPollMs: 100, stopTimeoutMs: 5_000 }
}
