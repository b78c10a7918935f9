/**
 * dbkit/monitoring: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
export {
  type AlertEvent,
  type AlertRule,
  type Alerts,
  type CreateAlertsOptions,
  createAlerts,
} from './alerts.js';
export { MONITORING_CHANNELS } from './channels.js';
export { formatDoctorHtml } from './doctor-html.js';
export {
  DOCTOR_SECTIONS,
  type DoctorActivity,
  type DoctorFinding,
  type DoctorReport,
  type DoctorSection,
  type DoctorSectionId,
  type DoctorTargets,
  runDoctorChecks,
} from './doctor-report.js';
export { formatDoctorReport } from './doctor-text.js';
export {
  BackendNotFoundError,
  type CancelRefusalReason,
  CancelRefusedError,
  CheckFailedError,
  MonitoringErrorCodes,
  MonitoringInputError,
} from './errors.js';
export type { Finding, FindingConfidence, FindingSeverity, FindingUnit } from './finding.js';
export { type PoolHealthBand, type PoolScoreInput, poolHealthBand, poolHealthScore } from './health-score.js';
export { type CollectMetricsOptions, collectMetrics, type MetricsHandle } from './metrics.js';
export type { MetricSources } from './metrics-snapshot.js';
export {
  type AlertOptions,
  type CancelBackendOptions,
  type MonitoringOptionSections,
  type PgActivityOptions,
  type PgCheckOptions,
  type PgQueryStatsOptions,
  type PoolMonitorOptions,
  type RedisHealthOptions,
  resolveMonitoringOptions,
} from './options.js';
export {
  type BlockingNode,
  type CancelResult,
  cancelBackend,
  type PgActivity,
  type PgBackend,
  pgActivity,
} from './pg-activity.js';
export type { PgCheckName, PgFinding } from './pg-check-types.js';
export { PG_CHECK_NAMES, type PgChecksResult, pgChecks } from './pg-checks.js';
export {
  explainHint,
  type PgQueryStat,
  type PgQueryStats,
  pgQueryStats,
  type QueryStatsCheckName,
  type QueryStatsFinding,
  type QueryStatsUnavailable,
} from './pg-query-stats.js';
export type { PoolCrossCheck, PoolSession } from './pool-ledger.js';
export {
  type AnySql,
  type MsHistogram,
  monitorPool,
  type PoolMonitor,
  type PoolStats,
} from './pool-monitor.js';
export {
  parseRedisInfo,
  type RedisCheckName,
  type RedisFinding,
  type RedisHealth,
  type RedisNodeHealth,
  redisHealth,
} from './redis-health.js';
export {
  type ClientManagerLike,
  type ClientManagerStatsLike,
  type QueryCacheLike,
  type QueryCacheStatsLike,
  readCacheStats,
  readClientStats,
} from './stats-contracts.js';
