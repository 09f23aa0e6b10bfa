/**
 * One line for the first problem zod found: `path.to.field: message`, or the
 * message alone for the value as a whole. Edges that refuse input with a
 * named error use it so every refusal reads the same way.
 */
import type { z } from 'zod'

export function firstIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid value'
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message
}

/**
 * `schema`'s output for `input`, or the named refusal `refuse` builds from
 * `invalid <what>: <first issue>`: the one shape of every edge's parse.
 */
export function parseOrRefuse<T> (schema: z.ZodType<T>, input: unknown, what: string, refuse: (message: string) => Error): T {
  const r = schema.safeParse(input)
  if (r.success) return r.data
  throw refuse(`invalid ${what}: ${firstIssue(r.error)}`)
}
