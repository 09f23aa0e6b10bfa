'use strict'
/**
 * partition-heal: after the join, the groups are split with drop rules (every instance drops
 * traffic to every address of the other groups). During the split one writer per group writes a
 * config key. Then an accept rule for each of those addresses heals it (testground's sidecar keeps a
 * drop rule until an accept rule names its subnet; an empty rules list changes nothing); every agent
 * must again see all N alive and read every group's key within converge_timeout.
 * Needs: a sidecar (namespaces), ≥ 2 groups, and the config API (PUT/GET /v1/config/:ns/:key).
 * During the split each side must read its own key and must not read the other sides' keys.
 * Measures: alive_during_partition (what this agent saw at the end of the split),
 * own_key_during_split_ms (split → own group's key readable here),
 * members_heal_ms and config_heal_ms (heal → all alive / all keys readable).
 */
const { joinCluster, aliveSet } = require('../lib/cluster')
const { collect, poll, signalAndWait, writeResults, sleep, pollInterval } = require('../lib/util')

/** sdk-go's network.FilterAction values (the js sdk has no constants for them) */
const ACCEPT = 0
const DROP = 2

async function writeKey (agent, ns, key, value) {
  const url = `/v1/config/${encodeURIComponent(ns)}/${encodeURIComponent(key)}`
  let r = await agent.put(url, { value })
  if (r.status === 400) r = await agent.put(url, value)
  if (r.status < 200 || r.status > 299) throw new Error(`PUT ${url}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
}

async function readKey (agent, ns, key) {
  const url = `/v1/config/${encodeURIComponent(ns)}/${encodeURIComponent(key)}`
  try {
    const body = await agent.get(url)
    return body && typeof body === 'object' && 'value' in body ? body.value : body
  } catch (_) {
    return undefined
  }
}

module.exports = async function partitionHeal (runenv, client) {
  if (!runenv.testSidecar) throw new Error('partition-heal needs a sidecar (network namespaces); it cannot run with --no-netns')
  const { agent, n, p, netclient, metrics, roster } = await joinCluster(runenv, client)
  const convergeTimeout = p.duration('converge_timeout')
  const ns = p.str('config_namespace')
  const me = runenv.testGroupId
  const groups = [...new Set(roster.map(r => r.group))].sort()
  const out = { ...metrics }
  try {
    if (groups.length < 2) throw new Error(`partition-heal needs at least 2 groups, the composition has ${groups.length}`)
    const others = roster.filter(r => r.group !== me)
    const rules = (filter) => others.map(r => ({ subnet: `${r.ip}/32`, filter }))
    await netclient.configureNetwork({
      network: 'default', enable: true, default: {}, routingPolicy: 'allow_all',
      rules: rules(DROP),
      callbackState: 'partitioned'
    })
    const splitAt = Date.now()
    const writerSeq = await client.signalEntry(`writer-${me}`)
    if (writerSeq === 1) {
      const value = { group: me, writtenAt: Date.now() }
      await writeKey(agent, ns, `partition-${me}`, value)
      await client.publish('writes', { group: me, value })
    }
    // Our side's write reaches us during the split; the other sides' must not.
    const writes = await collect(client, 'writes', groups.length, convergeTimeout)
    const expected = new Map(writes.map(w => [w.group, JSON.stringify(w.value)]))
    await poll(async () => (JSON.stringify(await readKey(agent, ns, `partition-${me}`)) === expected.get(me) ? true : undefined),
      { timeoutMs: convergeTimeout, intervalMs: pollInterval(n), what: `own group's key partition-${me} during the split` })
    out.own_key_during_split_ms = Date.now() - splitAt
    const remaining = p.duration('partition_duration') - (Date.now() - splitAt)
    if (remaining > 0) await sleep(remaining)
    out.alive_during_partition = (await aliveSet(agent)).size
    for (const g of groups) {
      if (g !== me && (await readKey(agent, ns, `partition-${g}`)) !== undefined) {
        throw new Error(`the partition leaked: group ${g}'s key is visible in group ${me} during the split`)
      }
    }
    await signalAndWait(client, 'split-observed', n, convergeTimeout)

    await netclient.configureNetwork({ network: 'default', enable: true, default: {}, rules: rules(ACCEPT), routingPolicy: 'allow_all', callbackState: 'healed' })
    const healedAt = Date.now()
    const interval = pollInterval(n)
    await poll(async () => ((await aliveSet(agent)).size >= n ? true : undefined),
      { timeoutMs: convergeTimeout, intervalMs: interval, what: `all ${n} members alive after heal` })
    out.members_heal_ms = Date.now() - healedAt
    await poll(async () => {
      for (const g of groups) if (JSON.stringify(await readKey(agent, ns, `partition-${g}`)) !== expected.get(g)) return undefined
      return true
    }, { timeoutMs: Math.max(1000, convergeTimeout - (Date.now() - healedAt)), intervalMs: interval, what: `config keys of groups ${groups.join(', ')}` })
    out.config_heal_ms = Date.now() - healedAt
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
  } catch (err) {
    writeResults(runenv, out, { error: err.message })
    throw err
  } finally {
    await agent.stop()
  }
}
