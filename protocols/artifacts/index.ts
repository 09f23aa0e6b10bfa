/**
 * Component artifacts (issue 13): the manifest a publisher writes, the
 * publisher key that signs it, the signed manifest every node verifies, and
 * the deterministic archive it names. docs/components.md describes the
 * formats and why. Archives travel between peers as CID-addressed chunks
 * (chunks.ts, block-store.ts, transfer.ts, server.ts, fetcher.ts).
 */
export { MANIFEST_FILE, DEFAULT_ARCHIVE_LIMITS, artifactTunables, type ArchiveLimits, type ArtifactConfig } from './constants.js'
export {
  parseManifest, readManifest, resolveArgv, healthTimings, parseDuration, type Manifest, type Health
} from './manifest.js'
export { generatePublisherKey, loadPublisherKey, publisherIdOf, type PublisherKey } from './publisher-key.js'
export {
  addressArchive, archiveCid, signManifest, decodeSignedManifest, verifyManifest, verifyManifestSignature, checkArchive, checkVersionConflict, manifestContent,
  type ArchiveRef, type SignedManifest, type VerifyOptions
} from './signed-manifest.js'
export { packDirectory, unpackArchive, type UnpackResult } from './archive.js'
export { splitArchive, readArchive, decodeIndex, blockCid, type ArchiveIndex } from './chunks.js'
export { BlockStore, type StoredIndex, type GcResult } from './block-store.js'
export { ARTIFACT_PROTOCOL } from './transfer.js'
export { ArtifactServer, type ArtifactServerComponents } from './server.js'
export { ArtifactFetcher, type ArtifactFetcherComponents, type FetchOptions, type FetchResult } from './fetcher.js'
export type { ProviderRouting } from './routing.js'
export { artifactMetrics, type ArtifactMetrics } from './metrics.js'
export * from './errors.js'
export { ManifestStore, MANIFEST_FILE_FORMAT, releaseKey, type StoredManifest } from './manifest-store.js'
export {
  ArtifactService, artifactService, ARTIFACTS_COMPONENT, type ArtifactServiceComponents, type ArtifactServiceInit, type PublishResult, type Release, type ReleaseSummary, type TrustedPublishers
} from './service.js'
export { RELEASES_NAMESPACE, checkReleaseEntry, decodeReleaseEntry, releaseEntry, releaseEntryKey, type ReleaseEntry, type ReleaseEntryValue } from './release-entry.js'
export { configReleaseLog, type ReleaseLog, type ReplicatedConfig } from './release-log.js'
export { releaseVerdict, ReleaseView, type ReleaseVerdict } from './release-view.js'
