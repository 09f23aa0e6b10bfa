'use strict'
/**
 * A network with a genesis for cases that need critical config (revocation,
 * bft): instances 1..validators init their identity and publish their peer
 * id; instance 1 (also the only admin) writes the genesis with `mycel genesis
 * create` and publishes it; every instance stores it and starts its agent
 * with `--genesis`. Returns joinCluster's `agentArgs` hook.
 */
const path = require('path')
const fsp = require('fs/promises')
const { runCli } = require('./agent')
const { collect } = require('./util')

/** Where the instance keeps the genesis file (its test temp dir). */
function genesisPath () {
  return path.join(process.env.TEST_TEMP_PATH || require('os').tmpdir(), 'genesis.json')
}

function genesisAgentArgs (client, { networkId, validators, timeoutMs }) {
  const genesisFile = genesisPath()
  return async (mySeq, a) => {
    if (mySeq <= validators) {
      await a.init()
      await client.publish('validator', { seq: mySeq, peerId: a.peerId })
    }
    if (mySeq === 1) {
      const ids = (await collect(client, 'validator', validators, timeoutMs)).sort((x, y) => x.seq - y.seq).map(v => v.peerId)
      await runCli(['genesis', 'create', '--network-id', networkId, '--validator', ids.join(','), '--admin', a.peerId, '--out', genesisFile])
      await client.publish('genesis', { text: await fsp.readFile(genesisFile, 'utf8') })
    } else {
      await fsp.writeFile(genesisFile, (await collect(client, 'genesis', 1, timeoutMs))[0].text)
    }
    return ['--genesis', genesisFile]
  }
}

module.exports = { genesisAgentArgs, genesisPath }
