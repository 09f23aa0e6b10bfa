'use strict'
/**
 * Verifies a node's certified chain with mycel's own code, the path a receiving node takes: a fresh
 * `CriticalState` from the genesis, with the agent's key rules and entry authorities, and every certificate
 * (the base64 CBOR `GET /v1/critical/:key` serves) through `commit`, i.e. `verifyNext` (height, link to the
 * previous block, `verifyCertificate` against the validator set in force, every entry's signature and
 * authorisation) then apply. The modules come from the mycel build the agents run (MYCEL_CLI, the `mycel`
 * package, or `mycel` on PATH: lib/agent.js resolveCli), so the plan itself stays a plain CommonJS package.
 */
const fs = require('fs')
const path = require('path')
const { pathToFileURL } = require('url')
const { resolveCli } = require('./agent')

/** The `dist` directory of the mycel build whose CLI the plan runs (dist/daemon/cli.js → dist). */
function mycelDist () {
  // [node, ...its flags, cli.js], or ['mycel'] when it is on PATH.
  const parts = resolveCli()
  const cmd = parts[0]
  let file = parts.length > 1 ? parts[parts.length - 1] : undefined
  if (file === undefined) {
    const dir = (process.env.PATH || '').split(path.delimiter).find(d => d !== '' && fs.existsSync(path.join(d, cmd)))
    if (dir === undefined) throw new Error('cannot find the mycel CLI (MYCEL_CLI, the mycel package or mycel on PATH) to verify certificates with')
    file = path.join(dir, cmd)
  }
  return path.resolve(path.dirname(fs.realpathSync(file)), '..')
}

let loaded
/** mycel's modules, imported once (ESM, from CommonJS through import()). */
function mycelModules () {
  if (loaded === undefined) {
    const dist = mycelDist()
    const load = (rel) => import(pathToFileURL(path.join(dist, rel)).href)
    loaded = Promise.all([
      load('protocols/bft/critical-state.js'), load('protocols/bft/block-store.js'), load('protocols/bft/crypto.js'),
      load('protocols/bft/genesis.js'), load('protocols/bft/messages.js'), load('policy/key-rules.js'), load('policy/admission-authority.js')
    ]).then(([state, store, crypto, genesis, messages, keyRules, authority]) => ({
      CriticalState: state.CriticalState,
      MemoryBlockStore: store.MemoryBlockStore,
      ed25519Verifier: crypto.ed25519Verifier,
      hex: crypto.hex,
      parseGenesis: genesis.parseGenesis,
      decodeCertificate: messages.decodeCertificate,
      keyRules: keyRules.POLICY_KEY_RULES,
      authorities: [authority.admissionAuthority]
    }))
  }
  return loaded
}

/**
 * Replays `cbors` (base64 certificates, in height order from 1) on the genesis `genesisText` with modules
 * `m` (mycelModules(), or the sources in a unit test). Resolves `{height, lastHash, chain}` (hex), or
 * `{error}` with the receiver's refusal (InvalidCertificateError, a decode error): never throws for bad input.
 */
async function verifyChainWith (m, genesisText, cbors) {
  try {
    const state = new m.CriticalState({
      genesis: m.parseGenesis(JSON.parse(genesisText)),
      verify: m.ed25519Verifier(),
      store: new m.MemoryBlockStore(),
      keyRules: m.keyRules,
      authorities: m.authorities
    })
    for (const c of cbors) await state.commit(m.decodeCertificate(new Uint8Array(Buffer.from(c, 'base64'))))
    return { height: state.height(), lastHash: m.hex(state.lastHash()), chain: m.hex(state.chain) }
  } catch (err) {
    return { error: `${err.name}: ${err.message}` }
  }
}

async function verifyChain (genesisText, cbors) {
  return verifyChainWith(await mycelModules(), genesisText, cbors)
}

module.exports = { verifyChain, verifyChainWith, mycelDist }
