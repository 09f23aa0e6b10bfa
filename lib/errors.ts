/**
 * Errors of the durable-file layer. Each names the file and the step an
 * operator takes to recover, because that is what `/readyz` and the logs
 * must say when a component stops on it (fail-stop).
 */

/** A durable file's bytes fail their checks (header, length, checksum, schema): damaged, not merely torn by a crash. */
export class CorruptFileError extends Error {
  static name = 'CorruptFileError'
  override name = 'CorruptFileError'
  constructor (readonly file: string, readonly problem: string, readonly recovery: string) {
    super(`${file}: ${problem}`)
  }
}

/**
 * Writing or syncing a durable file failed. After a failed fsync the kernel
 * may have dropped dirty pages, so nothing written since the last good sync
 * can be trusted: the owner stops rather than retry.
 */
export class StorageFailedError extends Error {
  static name = 'StorageFailedError'
  override name = 'StorageFailedError'
  constructor (readonly file: string, readonly problem: string, readonly recovery: string = STORAGE_RECOVERY) {
    super(`${file}: ${problem}`)
  }
}

/** Another live process holds the data dir's lock. */
export class DataDirLockedError extends Error {
  static name = 'DataDirLockedError'
  override name = 'DataDirLockedError'
}

/** Recovery step of an I/O failure. */
export const STORAGE_RECOVERY = 'check the disk and file system (free space, permissions, kernel log), then restart the agent'

/** Errors that stop the component owning the file (fail-stop), with the file and the recovery step. */
export type FailStopError = CorruptFileError | StorageFailedError

export function isFailStop (err: unknown): err is FailStopError {
  const name = (err as Error | undefined)?.name
  return name === CorruptFileError.name || name === StorageFailedError.name
}

/** Wrap an I/O error from `file` (already fail-stop errors pass through). */
export function storageFailed (file: string, what: string, err: unknown): FailStopError {
  if (isFailStop(err)) return err
  return new StorageFailedError(file, `${what} failed: ${(err as Error).message}`)
}
