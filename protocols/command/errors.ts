/**
 * Why a target refuses a command request. Each is answered to the
 * originator as `{ok: false, error}` (when the originator can be named) and
 * counted by its `reason` in `mycel_commands_received_total`; callers branch
 * on `.name`.
 */

/** The reason label of a refusal (metrics, the answer's `error` prefix). */
export type RefusalReason = 'expired' | 'future' | 'too_long' | 'replayed' | 'replay_set_full' | 'before_start' | 'unauthorised' | 'undeclared' | 'bad_params' | 'unavailable' | 'busy'

export class CommandRefusedError extends Error {
  static name = 'CommandRefusedError'
  override name = 'CommandRefusedError'
  constructor (readonly reason: RefusalReason, message: string) {
    super(message)
  }
}
