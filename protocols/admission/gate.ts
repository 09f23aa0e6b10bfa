/**
 * The stream gate: every protocol stream, inbound and outbound, of every
 * protocol but the exempt ones, first passes one middleware. libp2p 3 runs
 * the middleware a protocol registered with `registrar.use()` before the
 * handler (inbound) or before the caller gets the stream (outbound); the
 * gate adds itself in front of every protocol's chain by wrapping
 * `registrar.getMiddleware`, so protocols registered later (services,
 * membership, config sync) are covered without knowing about it.
 *
 * The wrapper also returns a fresh array on every call: libp2p 3.3 appends
 * the handler to the array it gets for each inbound stream, so a chain
 * registered with `use()` would otherwise run one more handler per stream
 * (libp2p/js-libp2p#3534).
 */
import type { StreamMiddleware } from '@libp2p/interface'

/** The slice of libp2p's registrar the gate wraps. */
export interface GateRegistrar {
  getMiddleware: (protocol: string) => StreamMiddleware[]
}

/** Install `gate` for every protocol except `exempt`; returns the uninstall function. */
export function installStreamGate (registrar: GateRegistrar, exempt: ReadonlySet<string>, gate: StreamMiddleware): () => void {
  const original = registrar.getMiddleware
  const bound = original.bind(registrar)
  registrar.getMiddleware = (protocol: string): StreamMiddleware[] =>
    exempt.has(protocol) ? [...bound(protocol)] : [gate, ...bound(protocol)]
  return () => { registrar.getMiddleware = original }
}
