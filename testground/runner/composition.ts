/**
 * Parsing of testground compositions and their preparation for a run, following testground's rules
 * (pkg/api/composition*.go):
 * - `[global]` needs plan, case and runner; a builder globally or on every group.
 * - `[[groups]]` have unique ids and `instances = { count = N }` or `{ percentage = 0.5 }` (not both);
 *   percentages need `global.total_instances`; a declared total must equal the computed one.
 * - parameters: run-group `test_params` > run `test_params` > `[groups.run] test_params` >
 *   `[global.run] test_params` > the manifest's defaults (each level only fills keys still missing).
 * - the case must exist in the manifest, builder and runner must be declared there, and the total
 *   instance count must lie within the case's [min, max].
 * `[[runs]]` (testground ≥ 0.6 multi-run compositions) are accepted; without them one run "default"
 * is made from the groups, as testground does.
 */
import { readFile } from 'node:fs/promises'
import { parse as parseToml, TomlError } from 'smol-toml'
import { CompositionError } from './errors.js'
import { checkRunnerBuilders } from './compatibility.js'
import { defaultParameters, testCaseByName, type Manifest } from './manifest.js'
import { validateParams } from './params.js'

interface Instances { count: number, percentage: number }

export interface CompositionGroup {
  id: string
  builder?: string
  instances: Instances
  testParams: Record<string, string>
  buildConfig: Record<string, unknown>
}

export interface CompositionRunGroup { id: string, groupId: string, instances: Instances, testParams: Record<string, string> }
export interface CompositionRun { id: string, totalInstances: number, testParams: Record<string, string>, groups: CompositionRunGroup[] }

export interface Composition {
  metadata: { name?: string, author?: string }
  global: {
    plan: string
    case: string
    builder?: string
    runner: string
    totalInstances: number
    runConfig: Record<string, unknown>
    testParams: Record<string, string>
  }
  groups: CompositionGroup[]
  runs: CompositionRun[]
}

export interface PreparedGroup {
  id: string
  instances: number
  builder: string
  params: Record<string, string>
}

export interface PreparedRun {
  plan: string
  case: string
  runner: string
  runId: string
  totalInstances: number
  runConfig: Record<string, unknown>
  groups: PreparedGroup[]
}

type Table = Record<string, unknown>
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)

function num (v: unknown, where: string): number {
  if (v === undefined) return 0
  if (typeof v === 'bigint') v = Number(v)
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new CompositionError(`${where} must be a non-negative number`)
  return v
}

function reqStr (v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new CompositionError(`${where} is required (a non-empty string)`)
  return v
}

/**
 * The Go type name BurntSushi/toml (0.4.1, testground's pin) reports for a TOML value it cannot put
 * into a Go string. Integers come as bigint because the composition is parsed with integersAsBigInt.
 */
function goTypeOf (v: unknown): string {
  if (typeof v === 'bigint') return 'int64'
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'boolean') return 'bool'
  if (v instanceof Date) return 'time.Time'
  if (Array.isArray(v)) return '[]interface {}'
  return 'map[string]interface {}'
}

/**
 * test_params are `map[string]string` in testground (RunParams.TestParams in pkg/api/composition.go):
 * its TOML decoder refuses the whole composition when one value is not a string, so we do too, with
 * its message, rather than stringify a value that could never load there.
 */
function params (v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {}
  if (!isTable(v)) throw new CompositionError(`${where} must be a table`)
  const out: Record<string, string> = {}
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') {
      const hint = typeof val === 'bigint' || typeof val === 'number' || typeof val === 'boolean' ? ` (quote it: ${k} = "${String(val)}")` : ''
      throw new CompositionError(`${where}.${k}: toml: cannot load TOML value of type ${goTypeOf(val)} into a Go string; testground's test_params are strings${hint}`)
    }
    out[k] = val
  }
  return out
}

/** Integers are parsed as bigint (to tell 1 from 1.0 in test_params); elsewhere they are plain numbers. */
function plainNumbers (v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (Array.isArray(v)) return v.map(plainNumbers)
  if (isTable(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainNumbers(x)]))
  return v
}

function instances (v: unknown, where: string): Instances {
  if (v === undefined) return { count: 0, percentage: 0 }
  if (!isTable(v)) throw new CompositionError(`${where} must be a table like { count = 5 }`)
  const count = num(v.count, `${where}.count`)
  const percentage = num(v.percentage, `${where}.percentage`)
  if (!Number.isInteger(count)) throw new CompositionError(`${where}.count must be an integer`)
  if (percentage > 1) throw new CompositionError(`${where}.percentage is a fraction of total_instances (0..1), got ${percentage}`)
  return { count, percentage }
}

/** testground's count_or_percentage rule: exactly one of them set and positive. */
function checkInstances (i: Instances, where: string): void {
  if ((i.count === 0 || i.percentage === 0) && i.count + i.percentage > 0) return
  throw new CompositionError(`${where}: set exactly one of instances.count or instances.percentage`)
}

export function parseComposition (text: string, source = 'composition.toml'): Composition {
  let doc: Table
  try {
    doc = parseToml(text, { integersAsBigInt: true }) as Table
  } catch (err) {
    throw new CompositionError(`${source}: invalid TOML: ${err instanceof TomlError ? err.message : String(err)}`)
  }
  try {
    const g = doc.global
    if (!isTable(g)) throw new CompositionError('[global] is required')
    const run = g.run === undefined ? {} : g.run
    if (!isTable(run)) throw new CompositionError('[global.run] must be a table')
    const global: Composition['global'] = {
      plan: reqStr(g.plan, 'global.plan'),
      case: reqStr(g.case, 'global.case'),
      builder: g.builder === undefined ? undefined : reqStr(g.builder, 'global.builder'),
      runner: reqStr(g.runner, 'global.runner'),
      totalInstances: num(g.total_instances, 'global.total_instances'),
      runConfig: isTable(g.run_config) ? plainNumbers(g.run_config) as Table : {},
      testParams: params(run.test_params, 'global.run.test_params')
    }
    if (!Number.isInteger(global.totalInstances)) throw new CompositionError('global.total_instances must be an integer')
    if (!Array.isArray(doc.groups) || doc.groups.length === 0) throw new CompositionError('at least one [[groups]] is required')
    const groups = doc.groups.map((raw: unknown, i: number): CompositionGroup => {
      if (!isTable(raw)) throw new CompositionError(`groups[${i}] must be a table`)
      const id = reqStr(raw.id, `groups[${i}].id`)
      const grun = raw.run === undefined ? {} : raw.run
      if (!isTable(grun)) throw new CompositionError(`group "${id}": [groups.run] must be a table`)
      return {
        id,
        builder: raw.builder === undefined ? undefined : reqStr(raw.builder, `group "${id}" builder`),
        instances: instances(raw.instances, `group "${id}" instances`),
        testParams: params(grun.test_params, `group "${id}" run.test_params`),
        buildConfig: isTable(raw.build_config) ? plainNumbers(raw.build_config) as Table : {}
      }
    })
    const runs = Array.isArray(doc.runs)
      ? doc.runs.map((raw: unknown, i: number): CompositionRun => {
        if (!isTable(raw)) throw new CompositionError(`runs[${i}] must be a table`)
        const id = reqStr(raw.id, `runs[${i}].id`)
        if (!Array.isArray(raw.groups) || raw.groups.length === 0) throw new CompositionError(`run "${id}" needs [[runs.groups]]`)
        return {
          id,
          totalInstances: num(raw.total_instances, `run "${id}" total_instances`),
          testParams: params(raw.test_params, `run "${id}" test_params`),
          groups: raw.groups.map((rg: unknown, j: number) => {
            if (!isTable(rg)) throw new CompositionError(`run "${id}" groups[${j}] must be a table`)
            const gid = reqStr(rg.id, `run "${id}" groups[${j}].id`)
            return {
              id: gid,
              groupId: rg.group_id === undefined ? gid : reqStr(rg.group_id, `run "${id}" group "${gid}" group_id`),
              instances: instances(rg.instances, `run "${id}" group "${gid}" instances`),
              testParams: params(rg.test_params, `run "${id}" group "${gid}" test_params`)
            }
          })
        }
      })
      : []
    const meta = isTable(doc.metadata) ? doc.metadata : {}
    return {
      metadata: { name: typeof meta.name === 'string' ? meta.name : undefined, author: typeof meta.author === 'string' ? meta.author : undefined },
      global,
      groups,
      runs
    }
  } catch (err) {
    if (err instanceof CompositionError) err.message = `${source}: ${err.message}`
    throw err
  }
}

export async function loadComposition (path: string): Promise<Composition> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new CompositionError(`cannot read ${path}: ${(err as Error).message}`)
  }
  return parseComposition(text, path)
}

/** Fills keys of `into` that are still missing from `from` (mergo.Merge semantics). */
function fill (into: Record<string, string>, from: Record<string, string>): void {
  for (const [k, v] of Object.entries(from)) if (into[k] === undefined) into[k] = v
}

export interface PrepareOptions {
  /** Which [[runs]] entry to use; required when a composition has more than one. */
  runId?: string
}

/**
 * Checks a composition against its plan's manifest and resolves instance counts and parameters.
 * Every error is raised here, before anything starts.
 */
export function prepareRun (c: Composition, m: Manifest, opts: PrepareOptions = {}): PreparedRun {
  const tc = testCaseByName(m, c.global.case)
  if (tc === undefined) {
    throw new CompositionError(`test case "${c.global.case}" not found in plan "${m.name}"; cases: ${m.testcases.map(t => t.name).join(', ')}`)
  }
  if (m.runners[c.global.runner] === undefined) {
    throw new CompositionError(`plan does not support runner "${c.global.runner}"; supported: ${Object.keys(m.runners).join(', ')}`)
  }
  const seen = new Set<string>()
  for (const g of c.groups) {
    if (seen.has(g.id)) throw new CompositionError(`group ids not unique; found duplicate: ${g.id}`)
    seen.add(g.id)
    const builder = g.builder ?? c.global.builder
    if (builder === undefined) throw new CompositionError(`group ${g.id} is missing a builder (set global.builder)`)
    if (m.builders[builder] === undefined) {
      throw new CompositionError(`plan does not support builder "${builder}"; supported: ${Object.keys(m.builders).join(', ')}`)
    }
  }
  // testground's engine refuses these before queueing the run
  checkRunnerBuilders(c.global.runner, c.groups.map(g => (g.builder ?? c.global.builder) as string))

  // No [[runs]]: one default run made of the groups, as testground does.
  let run: CompositionRun
  if (c.runs.length === 0) {
    run = {
      id: 'default',
      totalInstances: c.global.totalInstances,
      testParams: {},
      groups: c.groups.map(g => ({ id: g.id, groupId: g.id, instances: g.instances, testParams: {} }))
    }
  } else {
    const ids = new Set<string>()
    for (const r of c.runs) {
      if (ids.has(r.id)) throw new CompositionError(`runs ids not unique; found duplicate: ${r.id}`)
      ids.add(r.id)
    }
    if (opts.runId === undefined && c.runs.length > 1) {
      throw new CompositionError(`composition has ${c.runs.length} runs (${[...ids].join(', ')}); pick one with --run-id`)
    }
    const picked = opts.runId === undefined ? c.runs[0] : c.runs.find(r => r.id === opts.runId)
    if (picked === undefined) throw new CompositionError(`unknown run id ${opts.runId}; runs: ${[...ids].join(', ')}`)
    run = picked
  }

  const defaults = defaultParameters(tc)
  const rgIds = new Set<string>()
  const groups: PreparedGroup[] = []
  let computed = 0
  for (const rg of run.groups) {
    if (rgIds.has(rg.id)) throw new CompositionError(`group ids not unique; found duplicate: ${run.id}:${rg.id}`)
    rgIds.add(rg.id)
    const g = c.groups.find(x => x.id === rg.groupId)
    if (g === undefined) throw new CompositionError(`run ${run.id}:${rg.id} references non-existent group ${rg.groupId}`)
    const inst = rg.instances.count > 0 || rg.instances.percentage > 0 ? rg.instances : g.instances
    checkInstances(inst, `group "${rg.id}"`)
    if (inst.percentage > 0 && run.totalInstances === 0) {
      throw new CompositionError('groups count percentage requires a total_instances configuration')
    }
    const count = inst.count > 0 ? inst.count : Math.round(inst.percentage * run.totalInstances)
    computed += count
    const merged: Record<string, string> = { ...rg.testParams }
    fill(merged, run.testParams)
    fill(merged, g.testParams)
    fill(merged, c.global.testParams)
    fill(merged, defaults)
    validateParams(tc, merged, `group "${rg.id}"`)
    groups.push({ id: rg.id, instances: count, builder: (g.builder ?? c.global.builder) as string, params: merged })
  }
  for (const g of groups) {
    if (g.instances === 0) throw new CompositionError(`group "${g.id}" resolves to 0 instances`)
  }
  if (run.totalInstances !== 0 && computed !== run.totalInstances) {
    throw new CompositionError(`total instances mismatch: computed: ${computed} != configured: ${run.totalInstances}`)
  }
  if (computed < tc.instances.min || computed > tc.instances.max) {
    throw new CompositionError(`total instance count (${computed}) outside of allowable range [${tc.instances.min}, ${tc.instances.max}] for test case ${tc.name}`)
  }
  const runConfig = { ...(m.runners[c.global.runner] ?? {}), ...c.global.runConfig }
  return { plan: m.name, case: tc.name, runner: c.global.runner, runId: run.id, totalInstances: computed, runConfig, groups }
}
