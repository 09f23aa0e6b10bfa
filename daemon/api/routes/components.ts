/**
 * Admin API of components (docs/components.md):
 *
 *   GET  /v1/components/publishers   {source: "critical" | "config", publishers: [ids], problem?}
 *   POST /v1/components              publish: body `application/vnd.mycel.component-release`
 *                                    (api/release-body.ts); 201 {name, version, publisher, archive, publishedAt, known}
 *   GET  /v1/components              {components: [{name, version, publisher, archive: {cid, size}, publishedAt}]}
 *   GET  /v1/components/:name        {name, versions: [same as above]}; 404 if none is known
 *
 *   GET  /v1/components/local        {components: [{name, version, state, pid?, restarts, health, since, reason?}]}:
 *                                    what this node's component host runs, now
 *   GET  /v1/components/status       {region, entries: [{node, name, version, state, pid?, restarts, health, since,
 *                                    reason?, stale}]}: every node of the region, from their signed health reports
 *                                    (this node's own entries live); `?name=` filters
 *
 * The publishers route says which publishers' manifests this node accepts
 * and where that list comes from (committed critical config with a genesis,
 * this agent's config without). It is matched first, so a component named
 * `publishers` is listed by GET /v1/components but not by its own path.
 * The others are the artifact service's (protocols/artifacts/service.ts) and
 * answer 503 while it is stopped on a fault.
 */
import type { Route } from '../router.js'
import type { PublisherTrust } from '../../../policy/publisher-trust.js'
import type { ArtifactService } from '../../../protocols/artifacts/service.js'
import { RequestError } from '../../../lib/errors.js'
import type { ComponentHost } from '../../../host/component-host.js'
import type { Health } from '../../../protocols/health/health.js'
import type { ComponentReport } from '../../../protocols/health/report.js'
import { MAX_RELEASE_BODY_BYTES, RELEASE_CONTENT_TYPE, decodeRelease } from '../release-body.js'

export function componentRoutes (d: { publishers: PublisherTrust }): Route[] {
  return [{
    method: 'GET',
    path: '/v1/components/publishers',
    handler: () => {
      const problem = d.publishers.problem()
      return { json: { source: d.publishers.source, publishers: d.publishers.list(), ...(problem !== undefined ? { problem } : {}) } }
    }
  }]
}

/** A node's component entries as `mycel component status` shows them. */
export interface StatusEntry extends ComponentReport {
  node: string
  /** The node's report is older than the health stale bound: the entry may be out of date. */
  stale: boolean
}

export function hostRoutes (d: { host: Pick<ComponentHost, 'report'>, health: Pick<Health, 'reports'>, self: string, region: string }): Route[] {
  return [{
    method: 'GET',
    path: '/v1/components/local',
    handler: () => ({ json: { components: d.host.report() } })
  }, {
    method: 'GET',
    path: '/v1/components/status',
    handler: (req) => {
      const name = req.query.get('name') ?? undefined
      const entries: StatusEntry[] = d.host.report().map(c => ({ node: d.self, ...c, stale: false }))
      for (const { report, stale } of d.health.reports()) {
        if (report.peerId === d.self || report.region !== d.region) continue
        for (const c of report.components ?? []) entries.push({ node: report.peerId, ...c, stale })
      }
      const shown = entries.filter(e => name === undefined || e.name === name)
        .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0)
      return { json: { region: d.region, entries: shown } }
    }
  }]
}

export function artifactRoutes (artifacts: ArtifactService): Route[] {
  return [{
    method: 'POST',
    path: '/v1/components',
    binary: { contentType: RELEASE_CONTENT_TYPE, maxBytes: MAX_RELEASE_BODY_BYTES },
    handler: async (req) => {
      const { signed, archive } = decodeRelease(req.body as Uint8Array)
      const r = await artifacts.publish(signed, archive)
      return { status: r.known ? 200 : 201, json: { ...r, publishedAt: new Date(r.publishedAt).toISOString() } }
    }
  }, {
    method: 'GET',
    path: '/v1/components',
    handler: () => ({ json: { components: artifacts.list() } })
  }, {
    method: 'GET',
    path: '/v1/components/:name',
    handler: (req) => {
      const versions = artifacts.versions(req.params.name as string)
      if (versions.length === 0) throw new RequestError(404, `no component ${req.params.name as string} is known on this node`)
      return { json: { name: req.params.name, versions } }
    }
  }]
}
