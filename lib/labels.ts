/**
 * The rule for node label keys, on its own so the CLI checks `--label` flags
 * without loading the health report codec (protocols/health/report.ts
 * builds its schema from the same pattern).
 */

/** Label keys: as deployment constraint keys (Kubernetes/Nomad label keys). */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/
