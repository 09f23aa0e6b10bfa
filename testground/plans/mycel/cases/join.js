'use strict'
/**
 * join: N agents join through bootstrap peers published over the sync service; every agent must see
 * all N members alive within converge_timeout.
 * Measures (results.json): agent_start_ms, join_ms (own spawn → sees all N alive),
 * converged_after_last_spawn_ms (the last agent's spawn → this agent sees all N alive).
 */
const { joinCluster } = require('../lib/cluster')
const { signalAndWait, writeResults } = require('../lib/util')

module.exports = async function join (runenv, client) {
  const { agent, n, p, metrics } = await joinCluster(runenv, client)
  try {
    writeResults(runenv, metrics)
    // Nobody leaves before everyone has checked: a leave would break the others' view.
    await signalAndWait(client, 'done', n, p.duration('converge_timeout'))
  } finally {
    await agent.stop()
  }
}
