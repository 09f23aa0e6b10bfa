/**
 * The functions we evaluate, with Prometheus's argument and result types
 * (parse.ts checks calls against them; functions.ts implements them). A
 * function not listed here is refused at parse time by name.
 */
import type { ValueType } from './ast.js'

export interface FunctionSignature {
  args: readonly ValueType[]
  returns: ValueType
}

const vectorFn: FunctionSignature = { args: ['vector'], returns: 'vector' }
const rangeFn: FunctionSignature = { args: ['matrix'], returns: 'vector' }

export const FUNCTION_SIGNATURES: Readonly<Record<string, FunctionSignature>> = {
  abs: vectorFn,
  absent: vectorFn,
  absent_over_time: rangeFn,
  avg_over_time: rangeFn,
  ceil: vectorFn,
  clamp: { args: ['vector', 'scalar', 'scalar'], returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], returns: 'vector' },
  count_over_time: rangeFn,
  delta: rangeFn,
  floor: vectorFn,
  increase: rangeFn,
  last_over_time: rangeFn,
  max_over_time: rangeFn,
  min_over_time: rangeFn,
  rate: rangeFn,
  scalar: { args: ['vector'], returns: 'scalar' },
  sqrt: vectorFn,
  sum_over_time: rangeFn,
  time: { args: [], returns: 'scalar' },
  vector: { args: ['scalar'], returns: 'vector' }
}

export function isSupportedFunction (name: string): boolean {
  return Object.hasOwn(FUNCTION_SIGNATURES, name)
}
