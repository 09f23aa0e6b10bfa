/**
 * The launcher's boot counter as pure transitions over its state (the
 * shape RAUC's and systemd-boot's boot assessment give their slots):
 *
 *   good     the build that last became ready on trial (absent: the base
 *            install the launcher ships with);
 *   trying   a build to start instead, with the starts it was given so
 *            far; set by the agent (`requestTry`), counted before each
 *            start (`planBoot`), made good once it is ready (`confirm`);
 *   bad      builds that used up their attempts: never started again.
 *
 * Nothing here does I/O: launcher/run.ts persists each new state before it
 * acts on it, so a crash at any point counts the attempt at most once too
 * many, never once too few.
 */

/** One build: its version and the directory holding its package.json and dist/. */
export interface Build { version: string, dir: string }

export interface TryingBuild extends Build {
  /** Starts so far, each counted (and persisted) before it happened. */
  attempts: number
  /** Why the last start did not become ready. */
  lastFailure?: string
}

export interface BadBuild extends Build {
  /** Unix ms when the launcher gave up on it. */
  at: number
  attempts: number
  /** Why its last start did not become ready. */
  reason: string
  /** The version the launcher returned to (the good build's, or the base install's). */
  returnedTo: string
}

export interface LauncherState {
  good?: Build
  trying?: TryingBuild
  bad: BadBuild[]
}

/**
 * Bad builds remembered, newest last. A version is immutable once
 * published, so the list only guards against re-trying a known-bad build;
 * a bounded file keeps a long-lived node's state small.
 */
export const MAX_BAD_BUILDS = 16

/** Longest failure reason kept, characters (a line of a log, not the log). */
export const MAX_REASON_CHARS = 512

export const EMPTY_STATE: LauncherState = Object.freeze({ bad: [] }) as LauncherState

export interface BootPlan {
  /** The state to persist before starting anything. */
  state: LauncherState
  /** What to start: a build, or undefined for the base install. */
  boot?: Build
  /** The start is a trial: it must become ready within the deadline. */
  trial: boolean
  /** The trying build ran out of attempts and was marked bad by this plan. */
  markedBad?: BadBuild
}

export function sameBuild (a: Build | undefined, b: Build | undefined): boolean {
  return a !== undefined && b !== undefined && a.version === b.version && a.dir === b.dir
}

/** What to start next; a trial start is counted in the returned state. */
export function planBoot (state: LauncherState, opts: { maxAttempts: number, baseVersion: string, now: number }): BootPlan {
  const t = state.trying
  if (t === undefined) return { state, ...(state.good !== undefined ? { boot: state.good } : {}), trial: false }
  if (t.attempts >= opts.maxAttempts) {
    const bad: BadBuild = {
      version: t.version,
      dir: t.dir,
      at: opts.now,
      attempts: t.attempts,
      reason: t.lastFailure ?? 'did not become ready',
      returnedTo: state.good?.version ?? opts.baseVersion
    }
    const next = { ...withoutTrying(state), bad: [...state.bad.filter(b => b.version !== t.version), bad].slice(-MAX_BAD_BUILDS) }
    return { state: next, ...(state.good !== undefined ? { boot: state.good } : {}), trial: false, markedBad: bad }
  }
  const trying = { ...t, attempts: t.attempts + 1 }
  return { state: { ...state, trying }, boot: { version: t.version, dir: t.dir }, trial: true }
}

/**
 * The trial build became ready: it is the good build now (and off the bad
 * list, should it have been there). Another state (the trial was replaced)
 * is left alone.
 */
export function confirm (state: LauncherState, build: Build): LauncherState {
  if (!sameBuild(state.trying, build)) return state
  return { ...withoutTrying(state), good: { version: build.version, dir: build.dir }, bad: state.bad.filter(b => b.version !== build.version) }
}

/** The trial start of `build` did not become ready: remember why (the bad entry carries it). */
export function attemptFailed (state: LauncherState, build: Build, reason: string): LauncherState {
  if (state.trying === undefined || !sameBuild(state.trying, build)) return state
  return { ...state, trying: { ...state.trying, lastFailure: reason.slice(0, MAX_REASON_CHARS) } }
}

/**
 * The agent asks for `build` to be tried next (it then exits with
 * EXIT_SWITCH_CORE). Asking for the build that is already the good one is
 * no trial: the good build is started as it is, never put on trial (where
 * failed starts would put the good build itself on the bad list).
 */
export function requestTry (state: LauncherState, build: Build): LauncherState {
  if (sameBuild(state.good, build)) return withoutTrying(state)
  return { ...state, trying: { version: build.version, dir: build.dir, attempts: 0 } }
}

/** The bad entry of `version`, if the launcher gave up on it. */
export function badBuild (state: LauncherState, version: string): BadBuild | undefined {
  return state.bad.find(b => b.version === version)
}

function withoutTrying (state: LauncherState): LauncherState {
  const { trying: _trying, ...rest } = state
  return rest
}
