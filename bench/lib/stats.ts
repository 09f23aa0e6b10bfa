/** Small statistics and result-file helpers shared by the benchmarks. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readFileSync } from 'node:fs'

export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[idx]
}

export const median = (v: number[]): number => percentile(v, 50)

export function round (x: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

export const RESULTS_DIR = resolve('bench/results')

/** Write `bench/results/<name>.json` with the machine context beside the numbers. */
export async function writeResult (name: string, result: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, `${name}.json`)
  await writeFile(path, JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), result }, null, 2) + '\n')
  return path
}

function machine (): Record<string, unknown> {
  let cpu = 'unknown'
  try { cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu } catch {}
  return { node: process.version, cpu, cores: (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency }
}

