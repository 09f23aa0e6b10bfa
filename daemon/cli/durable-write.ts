/**
 * The replicated-config write commands' shared pieces (`mycel config
 * set|del`, `mycel component deploy|undeploy`): the agent's reply, the
 * `--wait-for`/`--timeout` query, the HTTP deadline and the acks text.
 */

/** Reply of a PUT or DELETE on a replicated-config key (routes/config.ts, routes/deployments.ts). */
export interface WriteReply {
  namespace: string
  key: string
  writer: string | null
  seq: number | null
  acked: string[]
  deleted?: boolean
  /** The write's trace id (`mycel trace ID` follows it across the network). */
  trace?: string
}

/** `--trace`: the line naming the write's trace, or ''. */
export function traceText (r: WriteReply, opts: { trace?: boolean }): string {
  return opts.trace === true && r.trace !== undefined ? `trace ${r.trace} (follow it: mycel trace ${r.trace})\n` : ''
}

export interface WaitOpts { waitFor?: number, timeout?: number }

/** `?waitFor=N&timeoutMs=MS` for the flags given, or ''. */
export function waitQuery (opts: WaitOpts = {}): string {
  const q = new URLSearchParams()
  if (opts.waitFor !== undefined) q.set('waitFor', String(opts.waitFor))
  if (opts.timeout !== undefined) q.set('timeoutMs', String(opts.timeout))
  return q.size > 0 ? `?${q.toString()}` : ''
}

/** Room for the agent's own --wait-for deadline before the HTTP call gives up. */
export function writeSignal (opts: WaitOpts): AbortSignal {
  return AbortSignal.timeout((opts.waitFor ?? 0) > 0 ? (opts.timeout ?? 60_000) + 30_000 : 30_000)
}

export function acksText (r: WriteReply, opts: { waitFor?: number }): string {
  return (opts.waitFor ?? 0) > 0 ? `, acknowledged by ${r.acked.length} member${r.acked.length === 1 ? '' : 's'}` : ''
}
