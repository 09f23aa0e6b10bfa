/**
 * Replicated configuration: signed envelopes of Yjs updates (crdt/),
 * gossiped at once on `mycel/config/1` and repaired by anti-entropy over
 * `/mycel/config-sync/1.0.0`. See docs/config.md.
 */
export { configService, ConfigService, type ConfigServiceInit, type ConfigServiceComponents, type WriteOptions, type WriteResult } from './service.js'
export { configSyncConfig, configSyncTunables, CONFIG_TOPIC, SYNC_PROTOCOL, type ConfigSyncConfig } from './constants.js'
export { namespacesSectionSchema, type NamespacesSection } from '../../crdt/namespaces.js'
export type { AccessPolicy } from '../../crdt/access.js'
export { AckTimeoutError } from './errors.js'
