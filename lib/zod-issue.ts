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
