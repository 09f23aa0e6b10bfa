/**
 * Admin API of components (docs/components.md). So far:
 *
 *   GET /v1/components/publishers   {source: "critical" | "config", publishers: [ids], problem?}
 *
 * which publishers' manifests this node accepts and where that list comes
 * from (committed critical config with a genesis, this agent's config without).
 */
import type { Route } from '../router.js'
import type { PublisherTrust } from '../../../policy/publisher-trust.js'

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
