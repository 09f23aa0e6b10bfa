/**
 * A deployment: which component version should run where, as an operator
 * asked for it (`mycel component deploy NAME@VERSION [--region R…]
 * [--count N] [--constraint KEY=VALUE…]`, issue 13). The record lives in
 * replicated config; the CLI and the admin API validate it with this schema
 * before writing it, and every receiver (the region's network manager, the
 * component host) parses it with the same schema before acting on it, so
 * nothing acts on a record the edge would have refused.
 *
 * Without `count` it is a system component: one instance on every eligible
 * node of the regions (Nomad's system jobs). With `count: N`, exactly N
 * instances per region, placed by the region's network manager
 * (placement.ts).
 *
 * Fields this release does not know are dropped, not refused (docs/wire.md
 * rule 1): a newer release may add one and older receivers keep working.
 */
import { z } from 'zod'
import semver from 'semver'
import { StatusError } from '../lib/errors.js'
import { parseOrRefuse } from '../lib/zod-issue.js'
import { REGION_PATTERN, REGION_RULE } from '../lib/region.js'
import { componentName } from '../protocols/artifacts/manifest.js'

/**
 * Instances per region a deployment may ask for. A region holds at most
 * membership's `maxMembers` (4,096) nodes and placement never stacks two
 * instances on one node, so a larger count could never be met; the bound
 * also bounds the work of one placement round.
 */
export const MAX_COUNT = 4_096

/** Regions one deployment may name; more is a typo or a script gone wrong, and the list is copied into every record. */
export const MAX_REGIONS = 64

/** Constraints one deployment may carry; each is checked against every node of the region per round. */
export const MAX_CONSTRAINTS = 16

/** Constraint keys: letters, digits, `.`, `_`, `/`, `-`, starting with a letter or digit, at most 63 (label keys as Kubernetes and Nomad spell them). */
export const CONSTRAINT_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/

/** Longest constraint value, characters: node labels are short names, not documents. */
export const MAX_CONSTRAINT_VALUE = 256

/** A deployment names a component by the manifest's own name rule (one rule, protocols/artifacts/manifest.ts). */
export const componentNameSchema = componentName

const versionSchema = z.string().max(256).refine(v => semver.valid(v) === v, 'version must be a semver version such as 1.2.0')

export const deploymentSchema = z.object({
  name: componentNameSchema,
  version: versionSchema,
  /** Regions it runs in; absent: every region. Sorted and without duplicates once parsed. */
  regions: z.array(z.string().regex(REGION_PATTERN, `invalid region: ${REGION_RULE}`)).min(1).max(MAX_REGIONS)
    .transform(rs => [...new Set(rs)].sort())
    .optional(),
  /** Instances per region; absent: a system component (every eligible node). */
  count: z.number().int().min(1).max(MAX_COUNT).optional(),
  /** Node labels an eligible node must carry with exactly these values. */
  constraints: z.preprocess((c, ctx) => {
    // zod's record drops an own `__proto__` key without a word; the key
    // rule refuses it, so say so rather than run on nodes it was meant to exclude.
    if (c !== null && typeof c === 'object' && Object.hasOwn(c, '__proto__')) ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'constraint keys are letters, digits, . _ / - (max 63)' })
    return c
  }, z.record(z.string().regex(CONSTRAINT_KEY_PATTERN, 'constraint keys are letters, digits, . _ / - (max 63)'), z.string().max(MAX_CONSTRAINT_VALUE))
    .refine(c => Object.keys(c).length <= MAX_CONSTRAINTS, `at most ${MAX_CONSTRAINTS} constraints`))
    .optional()
})

export type Deployment = z.output<typeof deploymentSchema>

/** A deployment record the edge refuses: the message says which field and why. */
export class InvalidDeploymentError extends StatusError {
  static name = 'InvalidDeploymentError'
  override name = 'InvalidDeploymentError'
  readonly status = 422
}

/** Parse a deployment from untrusted input (CLI, API body, replicated config); throws `InvalidDeploymentError`. */
export function parseDeployment (input: unknown): Deployment {
  return parseOrRefuse(deploymentSchema, input, 'deployment', (m) => new InvalidDeploymentError(m))
}

/** A system component runs on every eligible node; a counted one on `count` of them. */
export function isSystemDeployment (d: Deployment): boolean {
  return d.count === undefined
}

/**
 * The replicated-config namespace of deployments: key = component name,
 * value = the deployment record (with its `name`). Built into the release
 * (crdt/namespaces.ts BuiltinNamespaces): every node checks each value with
 * `checkDeploymentEntry`, the writer before signing and every receiver
 * before showing it, so no node holds a record the edge would refuse. Who
 * may write it: with a genesis, committed critical config
 * `acl/mycel.deployments` (policy/namespace-acl.ts); without one, the agent
 * file's `namespaces:` section (open by default).
 */
export const DEPLOYMENTS_NAMESPACE = 'mycel.deployments'

/** The built-in rule of DEPLOYMENTS_NAMESPACE: the value parses as a deployment named by its key. */
export function checkDeploymentEntry (key: string, value: unknown): void {
  const d = parseDeployment(value)
  if (d.name !== key) throw new InvalidDeploymentError(`invalid deployment: name: ${JSON.stringify(d.name)} stored under key ${JSON.stringify(key.slice(0, 80))}`)
}
