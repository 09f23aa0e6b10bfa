/** Named errors of the local testground runner; callers branch on `.name`. */

/** manifest.toml is malformed or breaks testground's manifest rules. */
export class ManifestError extends Error {
  static name = 'ManifestError'
  override name = 'ManifestError'
}

/** A composition is malformed, or does not fit the plan's manifest. */
export class CompositionError extends Error {
  static name = 'CompositionError'
  override name = 'CompositionError'
}

/** A test parameter is unknown, missing, or does not match its declared type. */
export class ParamError extends Error {
  static name = 'ParamError'
  override name = 'ParamError'
}

/** A network configuration request asks for something this runner cannot do. */
export class UnsupportedShapingError extends Error {
  static name = 'UnsupportedShapingError'
  override name = 'UnsupportedShapingError'
}

/** The host lacks something the runner needs (root, ip, nft, a free subnet). */
export class HostSetupError extends Error {
  static name = 'HostSetupError'
  override name = 'HostSetupError'
}

/** A command the runner executed (ip, nft, tc) failed. */
export class CommandError extends Error {
  static name = 'CommandError'
  override name = 'CommandError'
  constructor (readonly argv: string[], readonly code: number | null, readonly stderr: string) {
    super(`${argv.join(' ')} failed (exit ${code ?? 'signal'}): ${stderr.trim()}`)
  }
}
