/**
 * The evaluator's named errors. A rule expression is refused at parse time
 * with a `PromqlError` (syntax, an unsupported construct, a type error),
 * carrying where and why; an evaluation over the series can still fail on
 * the data (e.g. many-to-many matching), which is an `EvaluationError`.
 */
import { StatusError } from '../../../lib/errors.js'

/** Where in the expression text: offsets (`to` exclusive) and the 1-based line and column of `from`. */
export interface PromqlPosition { from: number, to: number, line: number, column: number }

/** An expression we refuse: a syntax error, a construct we do not evaluate, or a type error. */
export class PromqlError extends StatusError {
  static name = 'PromqlError'
  override name = 'PromqlError'
  readonly status = 400
  constructor (readonly position: PromqlPosition, readonly reason: string) {
    // A syntax error's reason already says where.
    super(reason.startsWith('syntax error at line') ? reason : `${reason} (at line ${position.line} column ${position.column})`)
  }
}

/** Evaluation failed on the data (Prometheus fails the query the same way); never a crash. */
export class EvaluationError extends StatusError {
  static name = 'EvaluationError'
  override name = 'EvaluationError'
  readonly status = 422
}

/** Position of the offsets `from`..`to` in `text`, with a 1-based line and column. */
export function positionIn (text: string, from: number, to: number): PromqlPosition {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < from && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1 }
  }
  return { from, to, line, column: from - lineStart + 1 }
}
