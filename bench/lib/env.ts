/**
 * Benchmark sizes and windows from environment variables, checked before
 * anything starts: a typo must not become a NaN-sized run that fails ten
 * minutes in. A bad value is a usage error (exit 2, one line).
 */

/** A benchmark variable that does not hold what it must; the message names it. */
export class BenchUsageError extends Error {
  static name = 'BenchUsageError'
  override name = 'BenchUsageError'
}

export interface NumberRule {
  /** Smallest allowed value. */
  min: number
  /** Whole numbers only. */
  integer?: boolean
}

function parseNumber (name: string, text: string, rule: NumberRule): number {
  const v = Number(text)
  const kind = rule.integer === true ? 'an integer' : 'a number'
  if (text.trim() === '' || !Number.isFinite(v) || (rule.integer === true && !Number.isInteger(v)) || v < rule.min) {
    throw new BenchUsageError(`${name} must be ${kind} ≥ ${rule.min}, got ${JSON.stringify(text)}`)
  }
  return v
}

/** `env[name]` as a number, `fallback` when unset or empty. */
export function envNumber (env: NodeJS.ProcessEnv, name: string, fallback: number, rule: NumberRule): number {
  const text = env[name]
  return text === undefined || text === '' ? fallback : parseNumber(name, text, rule)
}

/** `env[name]` as a comma-separated list of numbers, `fallback` when unset or empty. */
export function envNumberList (env: NodeJS.ProcessEnv, name: string, fallback: number[], rule: NumberRule): number[] {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  return text.split(',').map(part => parseNumber(name, part.trim(), rule))
}

/** `env[name]` as one of `choices`, `fallback` when unset or empty. */
export function envChoice<C extends string> (env: NodeJS.ProcessEnv, name: string, fallback: C, choices: readonly C[]): C {
  const text = env[name]
  if (text === undefined || text === '') return fallback
  if (!(choices as readonly string[]).includes(text)) throw new BenchUsageError(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`)
  return text as C
}

/**
 * Read a benchmark's configuration with `read`; a bad variable ends the
 * process with its one line and exit code 2, before anything starts.
 */
export function readBenchConfig<T> (bench: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err
    process.stderr.write(`bench ${bench}: ${err.message}\n`)
    process.exit(2)
  }
}
