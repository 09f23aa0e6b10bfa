/**
 * Artifact distribution metrics, defined once. The registry is optional:
 * without one the metrics still count (tests read them) but are exported
 * nowhere.
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

export function artifactMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    bytesFetched: m.counter({
      name: 'mycel_artifact_bytes_fetched_total',
      help: 'Chunk bytes received from peers that verified against their CID and were stored'
    }),
    bytesServed: m.counter({
      name: 'mycel_artifact_bytes_served_total',
      help: 'Block bytes (chunks and indexes) sent to peers'
    }),
    verificationFailures: m.counter({
      name: 'mycel_artifact_chunk_verification_failures_total',
      help: 'Blocks a peer sent whose bytes are not what their CID names, or that were not asked for; the peer is dropped for the fetch'
    }),
    blockCorruptions: m.counter({
      name: 'mycel_artifact_block_corruptions_total',
      help: 'Blocks read from the local store whose bytes no longer match their CID; deleted, to be fetched again'
    }),
    indexRejections: m.counter({
      name: 'mycel_artifact_index_rejections_total',
      help: 'Archive indexes dropped: malformed, for another archive or size, or reassembling to bytes other than the archive CID'
    }),
    requestsRejected: m.counter({
      name: 'mycel_artifact_requests_rejected_total',
      help: 'Inbound artifact requests answered with an error, by reason (malformed, oversized, bad_cid, error)',
      labelNames: ['reason'] as const
    }),
    requestsChoked: m.counter({
      name: 'mycel_artifact_requests_choked_total',
      help: 'Inbound artifact requests answered "missing" because every upload slot was taken by other peers'
    }),
    fetchDuration: m.histogram({
      name: 'mycel_artifact_fetch_duration_seconds',
      help: 'Time to fetch and verify one archive, by result (ok, unavailable, aborted, error)',
      labelNames: ['result'] as const,
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900]
    }),
    manifestsPublished: m.counter({
      name: 'mycel_component_manifests_published_total',
      help: 'Component versions accepted by publish on this node (a republish of a known version is not counted)'
    }),
    manifestsLearned: m.counter({
      name: 'mycel_component_manifests_learned_total',
      help: 'Component versions this node accepted from replicated config (mycel.releases): published on another node, or written there directly'
    }),
    manifestsRefused: m.counter({
      name: 'mycel_component_manifests_refused_total',
      help: 'Component manifests refused, by reason (untrusted, wrong_publisher, signature, invalid, archive_mismatch, conflict, too_large)',
      labelNames: ['reason'] as const
    })
  }
}

export type ArtifactMetrics = ReturnType<typeof artifactMetrics>
