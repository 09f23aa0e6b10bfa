/**
 * Component artifacts (issue 13): the manifest a publisher writes, the
 * publisher key that signs it, the signed manifest every node verifies, and
 * the deterministic archive it names. docs/components.md describes the
 * formats and why. Fetching archives from peers comes next, here.
 */
export { MANIFEST_FILE, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './constants.js'
export {
  parseManifest, readManifest, resolveArgv, healthTimings, parseDuration, type Manifest, type Health
} from './manifest.js'
export { generatePublisherKey, loadPublisherKey, publisherIdOf, type PublisherKey } from './publisher-key.js'
export {
  addressArchive, archiveCid, signManifest, decodeSignedManifest, verifyManifest, checkArchive, checkVersionConflict,
  type ArchiveRef, type SignedManifest, type VerifyOptions
} from './signed-manifest.js'
export { packDirectory, unpackArchive, type UnpackResult } from './archive.js'
export * from './errors.js'
