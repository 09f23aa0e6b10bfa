/**
 * Admin API of components (docs/components.md):
 *
 *   GET  /v1/components/publishers   {source: "critical" | "config", publishers: [ids], problem?}
 *   POST /v1/components              publish: body `application/vnd.mycel.component-release`
 *                                    (api/release-body.ts); 201 {name, version, publisher, archive, publishedAt, known}
 *   GET  /v1/components              {components: [{name, version, publisher, archive: {cid, size}, publishedAt}]}
 *   GET  /v1/components/:name        {name, versions: [same as above]}; 404 if none is known
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
