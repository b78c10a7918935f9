/**
 * dbkit/query: public surface (every export listed by name).
 * @packageDocumentation
 */
export { DbkitError, isDbkitError } from '../errors.js';
export * from './bigquery/index.js';
export { QUERY_N_PLUS_ONE_CHANNEL, QUERY_SLOW_CHANNEL, QUERY_TRACING_CHANNEL } from './channels.js';
export { ExplainError, QueryErrorCodes, QueryExpectationError, QueryOptionsError } from './errors.js';
export {
  type ExplainOptions,
  type ExplainQuery,
  type ExplainResult,
  explain,
  formatExplain,
} from './explain.js';
export { filterColumns, type PlanNode, parsePlanNode, walkPlan } from './explain-plan.js';
export type { ExplainFinding, FindingRule, FindingSeverity } from './explain-rules.js';
export { fingerprintQuery, normalizeSql, type QueryFingerprint } from './fingerprint.js';
export { instrument, isInstrumented } from './instrument.js';
export { instrumentQueryable, type QueryableClient } from './instrument-queryable.js';
export {
  type DetectNPlusOneOptions,
  detectNPlusOne,
  type NPlusOneReport,
  suggestBatch,
} from './n-plus-one.js';
export type { ExpectQueriesOptions, InstrumentOptions, TrackQueriesOptions } from './options.js';
export type { QueryConnection, QueryEvent, QueryKind } from './query-event.js';
export {
  createSlowQueryLog,
  type SlowQueryLog,
  type SlowQueryLogEntry,
  type SlowQueryLogOptions,
  type SlowQueryLogStats,
} from './slow-query-log.js';
export { expectQueries, formatQueryReport, type TrackedQueries, trackQueries } from './track.js';
