export { health, Health, type HealthInit, type HealthComponents, type StoredReport } from './health.js'
export { healthReportSchema, encodeSignedReport, decodeSignedReport, type HealthReport, type OffencesReport } from './report.js'
export { healthTunables, healthTopic, type HealthConfig } from './constants.js'
