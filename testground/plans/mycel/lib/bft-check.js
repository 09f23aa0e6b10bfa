'use strict'
/**
 * The bft case's judgements over what the instances report, pure so a unit test can feed them
 * (test/testground/bft-check.test.ts). Certificates themselves are verified by mycel's own code
 * (lib/bft-verify.js); this module compares what every node holds.
 */

/**
 * One node's chain from the certificates its API serves (`GET /v1/critical/:key` → `certificate`, one per
 * key; keys written in one block share it): `blocks` sorted by height, one per height, each
 * `{height, hash, prevHash, signers}` (signers: the validators whose precommits the certificate carries).
 * `problems` names a height served with two different block hashes, which one node must never hold.
 */
function nodeChain (certs) {
  const byHeight = new Map()
  const problems = []
  for (const c of certs) {
    const have = byHeight.get(c.height)
    if (have === undefined) {
      byHeight.set(c.height, { height: c.height, hash: c.blockHash, prevHash: c.prevHash, signers: c.precommits.map(p => p.validator).sort() })
    } else if (have.hash !== c.blockHash) {
      problems.push(`height ${c.height} is served with two blocks: ${have.hash} and ${c.blockHash}`)
    }
  }
  return { blocks: [...byHeight.values()].sort((a, b) => a.height - b.height), problems }
}

/**
 * Every node must hold the same certified chain. `reports`: one per instance,
 * `{seq, height, genesis, blocks, problems, verified: {height, lastHash} | {error}}`: `height` its API's
 * committed height, `genesis` its chain id (hex), `blocks` from `nodeChain`, `verified` what replaying its
 * certificates through mycel's CriticalState gave. `oneDown` (optional) `{from, to, isolated}`: the blocks at
 * heights from+1..to were committed while the validators `isolated` were partitioned away, so none of their
 * certificates may carry an isolated validator's precommit (else the partition leaked and the phase proved
 * nothing). Returns the problems found, empty when the invariant holds.
 */
function chainProblems (reports, oneDown) {
  const problems = []
  if (reports.length === 0) return ['no reports']
  for (const r of reports) {
    const who = `instance ${r.seq}`
    for (const p of r.problems || []) problems.push(`${who}: ${p}`)
    if (r.verified === undefined || r.verified.error !== undefined) {
      problems.push(`${who}: its certificates do not verify: ${r.verified === undefined ? 'not verified' : r.verified.error}`)
    } else if (r.verified.height !== r.height) {
      problems.push(`${who}: its certificates verify up to height ${r.verified.height}, its API says ${r.height}`)
    }
    // Contiguous from 1 and linked from the genesis: a gap means a height no key of this run exposes.
    r.blocks.forEach((b, i) => {
      if (b.height !== i + 1) problems.push(`${who}: no certificate exposed for height ${i + 1} (next is ${b.height})`)
      const prev = i === 0 ? r.genesis : r.blocks[i - 1].hash
      if (b.prevHash !== prev) problems.push(`${who}: block ${b.height} does not extend ${i === 0 ? 'the genesis' : `block ${b.height - 1}`}`)
    })
    const last = r.blocks[r.blocks.length - 1]
    if (r.blocks.length !== r.height) problems.push(`${who}: ${r.blocks.length} certified blocks exposed, its height is ${r.height}`)
    if (r.verified !== undefined && r.verified.error === undefined && last !== undefined && r.verified.lastHash !== last.hash) {
      problems.push(`${who}: the replayed chain ends in ${r.verified.lastHash}, its API's last block is ${last.hash}`)
    }
  }
  const heights = new Set(reports.map(r => r.height))
  if (heights.size > 1) problems.push(`nodes end at different heights: ${reports.map(r => `${r.seq}:${r.height}`).join(' ')}`)
  const genesis = new Set(reports.map(r => r.genesis))
  if (genesis.size > 1) problems.push(`nodes are on different networks: ${[...genesis].join(', ')}`)
  // Agreement: one block per height across all nodes.
  const hashes = new Map()
  for (const r of reports) {
    for (const b of r.blocks) {
      if (!hashes.has(b.height)) hashes.set(b.height, new Map())
      const m = hashes.get(b.height)
      m.set(b.hash, [...(m.get(b.hash) || []), r.seq])
    }
  }
  for (const [h, m] of [...hashes].sort((a, b) => a[0] - b[0])) {
    if (m.size > 1) problems.push(`fork at height ${h}: ${[...m].map(([hash, seqs]) => `${hash.slice(0, 16)} at ${seqs.join(',')}`).join(' vs ')}`)
  }
  if (oneDown !== undefined) {
    const isolated = new Set(oneDown.isolated)
    for (const r of reports) {
      for (const b of r.blocks) {
        if (b.height <= oneDown.from || b.height > oneDown.to) continue
        const inside = b.signers.filter(s => isolated.has(s))
        if (inside.length > 0) problems.push(`instance ${r.seq}: block ${b.height}, committed while ${inside.join(', ')} was partitioned away, carries its precommit: the partition leaked`)
      }
    }
  }
  return problems
}

/**
 * No block without a quorum: during the window with too few validators reachable, no node may hold a height
 * above `baseHeight` (the chain's height when the window opened). `reports`: `{seq, windowMaxHeight}`, the
 * highest committed height each node's API showed during the window. A node below `baseHeight` is only behind.
 */
function windowProblems (reports, baseHeight) {
  return reports
    .filter(r => !(typeof r.windowMaxHeight === 'number' && r.windowMaxHeight <= baseHeight))
    .map(r => typeof r.windowMaxHeight !== 'number'
      ? `instance ${r.seq}: no height observed during the window`
      : `instance ${r.seq}: height ${r.windowMaxHeight} committed during the window without a quorum (chain was at ${baseHeight})`)
}

/**
 * Nearest-rank quantiles, the rule of the local runner's result.json summaries (testground/runner/outcome.ts)
 * and lib/revocation-check.js, with p99 for latencies.
 */
function latencySummary (values) {
  if (values.length === 0) return undefined
  const v = [...values].sort((a, b) => a - b)
  const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]
  return { count: v.length, p50: q(0.5), p99: q(0.99), max: v[v.length - 1] }
}

/**
 * Which validators (by seq, 1..validators) a phase partitions away: the last ones, never seq 1 (the admin that
 * proposes). With quorum ⌊2n/3⌋+1, `tolerated` = n − quorum of them can be away and commits go on; one more
 * and no quorum is left (4 validators: 1, then 2).
 */
function partitionPlan (validators) {
  if (!Number.isInteger(validators) || validators < 4) throw new Error(`validators = ${validators}: needs at least 4 (one partitioned away must leave a quorum)`)
  const quorum = Math.floor(2 * validators / 3) + 1
  const tolerated = validators - quorum
  const last = (k) => Array.from({ length: k }, (_, i) => validators - k + 1 + i)
  return { quorum, tolerated, withQuorum: last(tolerated), withoutQuorum: last(tolerated + 1) }
}

module.exports = { nodeChain, chainProblems, windowProblems, latencySummary, partitionPlan }
