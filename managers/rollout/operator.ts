/**
 * The operator side of rollouts on one node, over replicated config: start
 * (start.ts), status (view.ts) and the controls (control.ts). The admin API
 * (daemon/api/routes/rollouts.ts) is a thin edge over it.
 *
 * Starts and controls on this node run one at a time, so two starts of one
 * component here cannot both pass the open-rollout check, and a start
 * re-runs every check after its archive probe (which waits on the network)
 * against the records as they are then. Two starts on two different nodes
 * at the same moment can both be accepted: replicated config has no lock,
 * and each node checks what it holds. The newest then speaks for the
 * component (state.ts `rolloutVersion`), and the older one is still listed
 * and can be aborted (docs/rollouts.md).
 *
 * Every decision is logged with the rollout id (`rollout` field).
 */
import type { Logger } from 'pino'
import type { Tracer } from '../../wire/tracing.js'
import { statusOf } from '../../lib/errors.js'
import { DEPLOYMENTS_NAMESPACE, parseDeployment, type Deployment } from '../deployment.js'
import { currentPlacements, PLACEMENTS_NAMESPACE } from '../placement-namespace.js'
import { applyControl, type ControlVerb } from './control.js'
import { RolloutNotFoundError } from './errors.js'
import { ROLLOUT_PROGRESS_NAMESPACE } from './progress.js'
import { ROLLOUTS_NAMESPACE, type Rollout, type RolloutState } from './record.js'
import { parseStartRequest } from './request.js'
import { checkReachable, planStart, rolloutId, type ArchiveProbe, type StartRelease } from './start.js'
import { indexRollouts, newestFirst, rolloutState, type RolloutWithProgress } from './state.js'
import type { NetworkFacts } from './targets.js'
import { rolloutView, type RolloutView } from './view.js'

/** Ids drawn before giving up; with 24 random bits a second draw is already rare. */
const ID_DRAWS = 8

type Entries = Array<[string, { value: unknown, writer?: string }]>

/** The slice of replicated config (protocols/config-sync ConfigService) the operator reads and writes. */
export interface RolloutConfig {
  get: (ns: string, key: string) => { value: unknown, writer?: string } | undefined
  entries: (ns: string) => Entries
  /** Durable on this node when it resolves; `trace` traces the write (protocols/config-sync WriteOptions). */
  write: (ns: string, key: string, value: unknown, opts?: { trace?: { parent?: string } }) => Promise<unknown>
}

/** The operation name of rollout spans: the start here, each region's steps in the update manager (driver.ts). */
export const ROLLOUT_SPAN = 'rollout'

export interface RolloutOperatorInit {
  config: RolloutConfig
  /** The artifact service's verdict on a release (`release(name, version).manifest`); throws its named error. */
  release: (name: string, version: string) => StartRelease
  probe: ArchiveProbe
  /** Membership and the health reports held here, now. */
  network: () => NetworkFacts
  logger: Logger
  /** Records the start's span; the record carries its traceparent (record.ts `tc`). */
  tracer?: Tracer
  /** @default Date.now */
  now?: () => number
  /** @default start.ts rolloutId (random suffix) */
  makeId?: (component: string, to: string) => string
}

export interface StartResult {
  id: string
  rollout: Rollout
  /** Target nodes whose installed components could not be checked here (another region's): only `requires.mycel` was. */
  unchecked: string[]
  /** The start's span, when traced: `mycel trace` follows the rollout by its trace id. */
  trace?: { traceId: string, traceparent: string }
}

export interface ControlResult {
  id: string
  verb: ControlVerb
  /** The state before the control. */
  previous: RolloutState
  rollout: RolloutView
}

export class RolloutOperator {
  private readonly now: () => number
  private readonly makeId: (component: string, to: string) => string
  private queue: Promise<unknown> = Promise.resolve()

  constructor (private readonly init: RolloutOperatorInit) {
    this.now = init.now ?? Date.now
    this.makeId = init.makeId ?? ((c, to) => rolloutId(c, to))
  }

  /**
   * Check and write a new rollout; throws the named refusal of the first
   * check that fails, having written nothing. `parent`: the caller's
   * traceparent (an API header), continued by the start's span.
   */
  async start (input: unknown, signal: AbortSignal, parent?: string): Promise<StartResult> {
    const req = parseStartRequest(input)
    const name = req.component
    const span = this.init.tracer?.start(ROLLOUT_SPAN, 'applied', parent, { component: name, to: req.version })
    try {
      const r = await this.serial(async () => await this.refusalLogged({ component: name, to: req.version }, 'rollout start refused', async () => {
        const first = planStart(input, this.startFacts(name), this.uniqueId)
        await checkReachable(first, this.init.probe, signal)
        // The probe waited on the network: decide on the records as they are now, under the same id.
        const planned = planStart(input, this.startFacts(name), () => first.rollout.id)
        const rollout = span !== undefined ? { ...planned.rollout, tc: span.traceparent } : planned.rollout
        const unchecked = planned.unchecked
        await this.init.config.write(ROLLOUTS_NAMESPACE, rollout.id, rollout, span !== undefined ? { trace: { parent: span.traceparent } } : undefined)
        this.init.logger.info({ rollout: rollout.id, component: rollout.component, from: rollout.from, to: rollout.to, regions: rollout.regions, lastStable: rollout.lastStable, unchecked: unchecked.length, ...(span !== undefined ? { trace: span.traceId } : {}) }, 'rollout started')
        return { id: rollout.id, rollout, unchecked }
      }))
      span?.end({ rollout: r.id })
      return span !== undefined ? { ...r, trace: { traceId: span.traceId, traceparent: span.traceparent } } : r
    } catch (err) {
      span?.end({}, err)
      throw err
    }
  }

  /** Every rollout (of `component`, if given), newest first. */
  list (component?: string): RolloutView[] {
    const index = this.index()
    const all = component !== undefined ? (index.byComponent.get(component) ?? []) : [...index.byComponent.values()].flat()
    const network = this.init.network()
    return all.sort((a, b) => newestFirst(a.rollout, b.rollout)).map(x => rolloutView(x, network))
  }

  /** One rollout; RolloutNotFoundError (404) when there is none of that id. */
  get (id: string): RolloutView {
    return rolloutView(this.find(id), this.init.network())
  }

  /** Apply a control verb; ControlRefusedError (409) when it does not apply to the rollout's state. */
  async control (id: string, verb: ControlVerb): Promise<ControlResult> {
    return await this.serial(async () => await this.refusalLogged({ rollout: id, verb }, `rollout ${verb} refused`, async () => {
      const found = this.find(id)
      const previous = rolloutState(found.rollout, found.progress)
      const next = applyControl(found.rollout, previous, verb, this.now())
      await this.init.config.write(ROLLOUTS_NAMESPACE, id, next)
      this.init.logger.info({ rollout: id, verb, previous, control: next.control }, `rollout ${verb}`)
      return { id, verb, previous, rollout: rolloutView({ rollout: next, progress: found.progress }, this.init.network()) }
    }))
  }

  /** Run `task`; a refusal (a status error below 500: the caller's request, not our failure) is logged as a decision too. */
  private async refusalLogged<T> (fields: Record<string, string>, msg: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task()
    } catch (err) {
      const status = statusOf(err)
      if (status < 500) this.init.logger.info({ ...fields, refusal: (err as Error).name, status, reason: (err as Error).message }, msg)
      throw err
    }
  }

  private find (id: string): RolloutWithProgress {
    for (const list of this.index().byComponent.values()) {
      const found = list.find(x => x.rollout.id === id)
      if (found !== undefined) return found
    }
    throw new RolloutNotFoundError(`no rollout ${JSON.stringify(id.slice(0, 80))}`)
  }

  private index (): ReturnType<typeof indexRollouts> {
    const c = this.init.config
    return indexRollouts(c.entries(ROLLOUTS_NAMESPACE), c.entries(ROLLOUT_PROGRESS_NAMESPACE))
  }

  private startFacts (name: string): Parameters<typeof planStart>[1] {
    const c = this.init.config
    return {
      deployment: this.deployment(name),
      rollouts: this.index().byComponent.get(name) ?? [],
      network: this.init.network(),
      placements: currentPlacements(c.entries(PLACEMENTS_NAMESPACE)),
      release: this.init.release,
      now: this.now()
    }
  }

  private deployment (name: string): Deployment | undefined {
    const v = this.init.config.get(DEPLOYMENTS_NAMESPACE, name)
    if (v === undefined) return undefined
    try {
      const d = parseDeployment(v.value)
      return d.name === name ? d : undefined
    } catch {
      // The namespace's rule keeps such values out; one that is there anyway is no deployment.
      return undefined
    }
  }

  /** An id no rollout has yet (the random part makes a clash unlikely; this makes it impossible here). */
  private readonly uniqueId = (component: string, to: string): string => {
    for (let i = 0; i < ID_DRAWS; i++) {
      const id = this.makeId(component, to)
      if (this.init.config.get(ROLLOUTS_NAMESPACE, id) === undefined) return id
    }
    throw new Error(`no unused rollout id for ${component}@${to} in ${ID_DRAWS} draws`)
  }

  private async serial<T> (task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task)
    this.queue = run.catch(() => {})
    return await run
  }
}
