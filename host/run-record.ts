/**
 * The supervisor's durable note of one component instance: which process
 * runs it (pid + start time + boot id: lib/dir-lock.ts's rule, so a reused
 * pid is never mistaken for it), since when, how often it was restarted,
 * and whether it gave up (`failed`). A restarted agent reads it to adopt
 * the running process instead of starting a second one (Habitat's launcher
 * keeps services up while its supervisor restarts; here the process simply
 * outlives the agent) and to keep a `failed` component failed.
 *
 * One sealed file per instance (`<stateDir>/<id>.run`, lib/sealed-file.ts):
 * replaced whole, so a crash never tears it, and a damaged one is refused.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { FileFormat } from '../lib/file-format.js'
import { readSealedJson, writeSealedJson } from '../lib/sealed-file.js'

export const RUN_RECORD_FORMAT: FileFormat = {
  magic: 'MYCELCR1',
  name: 'component run record',
  recovery: 'make sure the component is not running (its process group), then remove the file; the agent starts it again'
}

const recordSchema = z.strictObject({
  /** `running`: `pid` runs it (or did when the agent last wrote); `failed`: the start limit stopped it. */
  state: z.enum(['running', 'failed']),
  pid: z.number().int().positive().optional(),
  startTime: z.string().optional(),
  bootId: z.string().optional(),
  /** Argv it was started with, for the operator reading the file. */
  argv: z.array(z.string()),
  /** When it entered `state`, Unix ms. */
  since: z.number(),
  restarts: z.number().int().nonnegative()
})

export type RunRecord = z.infer<typeof recordSchema>

export function runRecordPath (stateDir: string, id: string): string { return join(stateDir, `${id}.run`) }

/** The record at `path`, undefined when there is none; CorruptFileError when it is damaged. */
export async function readRunRecord (path: string): Promise<RunRecord | undefined> {
  return await readSealedJson(RUN_RECORD_FORMAT, path, recordSchema, 'component run record')
}

export async function writeRunRecord (path: string, record: RunRecord): Promise<void> {
  await writeSealedJson(RUN_RECORD_FORMAT, path, record)
}

export async function removeRunRecord (path: string): Promise<void> {
  await rm(path, { force: true })
}
