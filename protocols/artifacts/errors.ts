/**
 * Named errors of component manifests and archives (callers branch on
 * `.name`). Each carries the status a front end reports (lib/errors.ts):
 * 422 for input a schema refuses, 403 for a publisher that is not trusted,
 * 409 for a conflict with what is already known, 413 for too much.
 */
import { StatusError } from '../../lib/errors.js'

/** `mycel.component.yaml` (or a manifest's fields on the wire) breaks the schema; the message names the key. */
export class InvalidManifestError extends StatusError {
  static name = 'InvalidManifestError'
  override name = 'InvalidManifestError'
  readonly status = 422
}

/** A signed manifest's signature is not its publisher's over its fields. */
export class ManifestSignatureError extends StatusError {
  static name = 'ManifestSignatureError'
  override name = 'ManifestSignatureError'
  readonly status = 422
}

/** The manifest is signed by a publisher other than the one the caller asked for. */
export class WrongPublisherError extends StatusError {
  static name = 'WrongPublisherError'
  override name = 'WrongPublisherError'
  readonly status = 403
}

/** The manifest's publisher is not in the trust set. */
export class UntrustedPublisherError extends StatusError {
  static name = 'UntrustedPublisherError'
  override name = 'UntrustedPublisherError'
  readonly status = 403
}

/** A name and version already known with other content: versions are immutable. */
export class ManifestConflictError extends StatusError {
  static name = 'ManifestConflictError'
  override name = 'ManifestConflictError'
  readonly status = 409
}

/** Archive bytes whose sha256 or size differ from what the signed manifest names. */
export class ArchiveMismatchError extends StatusError {
  static name = 'ArchiveMismatchError'
  override name = 'ArchiveMismatchError'
  readonly status = 422
}

/** A publisher key file exists already (keygen without force). */
export class PublisherKeyExistsError extends StatusError {
  static name = 'PublisherKeyExistsError'
  override name = 'PublisherKeyExistsError'
  readonly status = 409
}

/** A directory cannot be packed: a symlink, a device, fifo or socket, or too much. */
export class PackError extends StatusError {
  static name = 'PackError'
  override name = 'PackError'
  readonly status = 422
}

/** An archive entry whose path is absolute, has `..`, `.` or empty segments, or repeats an earlier one. */
export class UnsafePathError extends StatusError {
  static name = 'UnsafePathError'
  override name = 'UnsafePathError'
  readonly status = 422
}

/** An archive entry that is not a regular file or directory (symlink, hard link, device, fifo, …). */
export class UnsupportedEntryError extends StatusError {
  static name = 'UnsupportedEntryError'
  override name = 'UnsupportedEntryError'
  readonly status = 422
}

/** An archive over a limit: one entry's size, the total size, or the number of entries. */
export class ArchiveTooLargeError extends StatusError {
  static name = 'ArchiveTooLargeError'
  override name = 'ArchiveTooLargeError'
  readonly status = 413
}

/** Bytes that are not a well-formed tar archive. */
export class MalformedArchiveError extends StatusError {
  static name = 'MalformedArchiveError'
  override name = 'MalformedArchiveError'
  readonly status = 422
}

/** The unpack target exists already: a version directory is written once, never merged into. */
export class UnpackTargetExistsError extends StatusError {
  static name = 'UnpackTargetExistsError'
  override name = 'UnpackTargetExistsError'
  readonly status = 409
}

/** No publisher key file at the path given. */
export class PublisherKeyNotFoundError extends StatusError {
  static name = 'PublisherKeyNotFoundError'
  override name = 'PublisherKeyNotFoundError'
  readonly status = 404
}

/** Block bytes whose sha256 is not the one their CID names. */
export class BlockMismatchError extends StatusError {
  static name = 'BlockMismatchError'
  override name = 'BlockMismatchError'
  readonly status = 422
}

/** An archive index that does not decode, or whose fields disagree (chunk count, sizes, CIDs). */
export class InvalidIndexError extends StatusError {
  static name = 'InvalidIndexError'
  override name = 'InvalidIndexError'
  readonly status = 422
}

/** A block an archive needs is not in the local store (never fetched, or deleted as corrupt on read). */
export class BlockMissingError extends StatusError {
  static name = 'BlockMissingError'
  override name = 'BlockMissingError'
  readonly status = 404
}

/** No provider reachable has (all of) the archive: retry later, or name a peer that has it. */
export class ArtifactUnavailableError extends StatusError {
  static name = 'ArtifactUnavailableError'
  override name = 'ArtifactUnavailableError'
  readonly status = 503
}

/** No manifest of this name and version is known on this node (not published, or not replicated here yet). */
export class UnknownReleaseError extends StatusError {
  static name = 'UnknownReleaseError'
  override name = 'UnknownReleaseError'
  readonly status = 404
}

/** The artifact service is not running (stopped, or stopped on its durable state: see /readyz). */
export class ArtifactServiceStoppedError extends StatusError {
  static name = 'ArtifactServiceStoppedError'
  override name = 'ArtifactServiceStoppedError'
  readonly status = 503
}
