/**
 * Admin API of deployments (docs/components.md "Deployments"), thin over the
 * replicated config namespace `mycel.deployments` (managers/deployment.ts):
 *
 *   GET    /v1/deployments          {deployments: [{...deployment, writer}]}, by name
 *   GET    /v1/deployments/:name    {...deployment, writer, placements?}; 404 if absent
 *   PUT    /v1/deployments/:name    body {version, regions?, count?, constraints?}; ?waitFor=N&timeoutMs=T
 *   DELETE /v1/deployments/:name    ?waitFor=N&timeoutMs=T
 *
 * The body is parsed with `parseDeployment` (422 naming the field) before
 * anything is written, and the store checks the record again with the
 * namespace's built-in rule, as every receiver does. Durability and
 * `waitFor` are those of config writes (routes/config.ts).
 *
 * For a counted deployment, `placements` lists per region the placement
 * record in force (the highest term: managers/placement-namespace.ts) as
 * this node holds it: `[{region, term, writer, assignments: [{node, since}]}]`,
 * by region; a region whose network manager has not placed it yet is absent.
 */
import { RequestError } from '../../../lib/errors.js'
import type { Route } from '../router.js'
import type { ConfigService } from '../../../protocols/config-sync/service.js'
import { DEPLOYMENTS_NAMESPACE, parseDeployment, type Deployment } from '../../../managers/deployment.js'
import { currentPlacements, PLACEMENTS_NAMESPACE } from '../../../managers/placement-namespace.js'
import { writeOptions, writeReply } from './config.js'

export function deploymentRoutes (svc: ConfigService): Route[] {
  const shown = (value: unknown, writer: string | undefined): Deployment & { writer: string | null } =>
    // Values in the view passed the built-in rule; parsing again drops fields a newer release added.
    ({ ...parseDeployment(value), writer: writer ?? null })
  return [
    {
      method: 'GET',
      path: '/v1/deployments',
      handler: () => {
        const all = svc.entries(DEPLOYMENTS_NAMESPACE) // sorted by name
        return { json: { deployments: all.map(([, v]) => shown(v.value, v.writer)) } }
      }
    },
    {
      method: 'GET',
      path: '/v1/deployments/:name',
      handler: (req) => {
        const v = svc.get(DEPLOYMENTS_NAMESPACE, req.params.name)
        if (v === undefined) throw new RequestError(404, `no deployment ${JSON.stringify(req.params.name.slice(0, 80))}`)
        const d = shown(v.value, v.writer)
        if (d.count === undefined) return { json: d }
        const placements = [...currentPlacements(svc.entries(PLACEMENTS_NAMESPACE)).byDeployment.values()]
          .filter(c => c.deployment === d.name)
          .sort((a, b) => a.region < b.region ? -1 : 1)
          .map(c => ({ region: c.region, term: c.record.term, writer: c.writer ?? null, assignments: c.record.assignments }))
        return { json: { ...d, placements } }
      }
    },
    {
      method: 'PUT',
      path: '/v1/deployments/:name',
      handler: async (req) => {
        const body = req.body
        if (body === null || typeof body !== 'object' || Array.isArray(body)) {
          throw new RequestError(400, 'body must be a JSON object {"version": "1.2.0", "regions"?: [...], "count"?: N, "constraints"?: {...}}')
        }
        const { name } = req.params
        if ('name' in body && (body as { name: unknown }).name !== name) {
          throw new RequestError(400, 'the body names another deployment than the path')
        }
        const d = parseDeployment({ ...body, name })
        const r = await svc.write(DEPLOYMENTS_NAMESPACE, name, d, writeOptions(req))
        return { json: { ...writeReply(DEPLOYMENTS_NAMESPACE, name, r), deployment: d } }
      }
    },
    {
      method: 'DELETE',
      path: '/v1/deployments/:name',
      handler: async (req) => {
        const { name } = req.params
        const r = await svc.write(DEPLOYMENTS_NAMESPACE, name, undefined, { ...writeOptions(req), deleted: true })
        return { json: { ...writeReply(DEPLOYMENTS_NAMESPACE, name, r), deleted: r.envelope !== undefined } }
      }
    }
  ]
}
