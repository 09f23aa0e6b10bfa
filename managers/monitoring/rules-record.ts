/**
 * The region-independent monitoring settings in replicated config, namespace
 * `mycel.monitoring` (records.ts has the rest of the namespace):
 *
 *   rules           {v, text, setAt}  the alert rule file, as the operator wrote it
 *   inhibit-rules   {v, text, setAt}  Alertmanager-style `inhibit_rules:` (inhibit-file.ts)
 *
 * The text is stored, not a parsed form: `mycel alert rules get` gives back
 * the operator's file with its comments, and every node parses it with the
 * same code (rule-file.ts) when it arrives, so a value one node accepts,
 * every node accepts — and evaluates the same way.
 */
import { StatusError } from '../../lib/errors.js'
import { z } from 'zod'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { MAX_RULE_FILE_BYTES } from './rule-file.js'

export const RULES_KEY = 'rules'
export const INHIBIT_RULES_KEY = 'inhibit-rules'

export class InvalidMonitoringRecordError extends StatusError {
  static name = 'InvalidMonitoringRecordError'
  override name = 'InvalidMonitoringRecordError'
  readonly status = 422
}

export const textRecordSchema = z.strictObject({
  v: z.literal(1),
  /** The file as given (UTF-8). */
  text: z.string().refine(t => Buffer.byteLength(t) <= MAX_RULE_FILE_BYTES, `at most ${MAX_RULE_FILE_BYTES} bytes`),
  /** When it was set, Unix ms. */
  setAt: z.number().int().nonnegative().max(8.64e15)
})

export type TextRecord = z.infer<typeof textRecordSchema>

/** Parse a stored text record; `check` is the file's own parser (throws its error on a bad file). */
export function parseTextRecord<T> (what: string, value: unknown, check: (text: string) => T): { record: TextRecord, parsed: T } {
  const record = parseOrRefuse(textRecordSchema, value, `${what} record`, m => new InvalidMonitoringRecordError(m))
  return { record, parsed: check(record.text) }
}
