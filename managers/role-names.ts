/**
 * The management roles' names, in the order the API lists them. On their own
 * so the CLI and the config schema know them without loading the managers;
 * registry.ts builds one role per name and checks, when it loads, that its
 * entries are exactly these, in this order.
 */
export const ROLE_NAMES = Object.freeze(['network', 'update', 'config', 'security', 'monitoring'] as const)

export type RoleName = typeof ROLE_NAMES[number]
