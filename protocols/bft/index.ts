/**
 * Critical configuration through BFT (docs/bft.md). Public surface for the
 * daemon and other modules.
 */
export { criticalService, CriticalService, type CriticalServiceInit, type CriticalStatus, type ProposeResult } from './service.js'
export type { CriticalConfig, CriticalValue, CriticalChange } from './critical-state.js'
export { CriticalState } from './critical-state.js'
export { verifyCertificate } from './certificate.js'
export { createGenesis, loadGenesis, parseGenesis, genesisHash, genesisHashHex, genesisToJson, type Genesis } from './genesis.js'
export { bftTunables, VALIDATORS_KEY, ADMINS_KEY, VALIDATOR_CHANGE_DELAY, CRITICAL_TOPIC, BFT_PROTOCOL, BFT_SYNC_PROTOCOL } from './constants.js'
export type { Certificate, Block, Entry } from './types.js'
