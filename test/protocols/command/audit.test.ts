/**
 * The audit record of a command (protocols/command/audit.ts): whatever the
 * fan-out, the originator's record fits the bound every node checks, and
 * the counts cover every node even when per-node lines had to go.
 */
import { strict as assert } from 'node:assert'
import { AUDIT_RECORD_MAX_BYTES, auditKey, auditRecord, checkAuditEntry } from '../../../protocols/command/audit.js'
import type { CommandOutcome } from '../../../protocols/command/service.js'

const ID = 'ab'.repeat(16)
const node = (i: number): string => `12D3KooW${String(i).padStart(44, 'x')}`

function outcome (answers: number, missing: number): CommandOutcome {
  return {
    request: { v: 1, id: ID, from: node(0), name: 'collect', args: Array.from({ length: 32 }, () => 'a'.repeat(1024)), targets: {}, issuedAt: 1, expires: 2 } as unknown as CommandOutcome['request'],
    answers: Array.from({ length: answers }, (_, i) => ({ v: 1 as const, id: ID, node: node(i + 1), ok: i % 2 === 0, exitCode: 1, output: 'o'.repeat(500), durationMs: 3, error: 'e'.repeat(1024) })),
    missing: Array.from({ length: missing }, (_, i) => node(1000 + i)),
    expected: Array.from({ length: answers + missing }, (_, i) => node(i)),
    durationMs: 10
  }
}

describe('protocols/command/audit: the record fits', () => {
  it('a 400-node fan-out with the longest fields fits the bound, passes the receivers\' check, and keeps whole counts', () => {
    const r = auditRecord(outcome(300, 100))
    assert.ok(Buffer.byteLength(JSON.stringify(r)) <= AUDIT_RECORD_MAX_BYTES)
    checkAuditEntry(auditKey(ID), r)
    assert.equal(r.expected, 400)
    assert.equal(r.answered, 300)
    assert.equal(r.okCount, 150)
    assert.ok(r.results.length < 200, 'per-node lines were dropped to fit')
  })

  it('a small fan-out keeps every line', () => {
    const r = auditRecord(outcome(4, 1))
    assert.equal(r.results.length, 4)
    assert.equal(r.missing.length, 1)
    checkAuditEntry(auditKey(ID), r)
  })

  it('receivers refuse a record over the bound', () => {
    const r = auditRecord(outcome(4, 0))
    assert.throws(() => { checkAuditEntry(auditKey(ID), { ...r, args: Array.from({ length: 32 }, () => 'a'.repeat(1024)), results: Array.from({ length: 200 }, () => ({ ...r.results[0]!, error: 'e'.repeat(256), firstLine: 'f'.repeat(160) })) }) }, /at most/)
  })
})
