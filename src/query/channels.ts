import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Tracing channel of every instrumented query: `tracing:dbkit:query:start` when it starts executing,
 * `...:asyncEnd` when it settles and `...:error` when it fails; the message is the {@link QueryEvent}.
 */
export const QUERY_TRACING_CHANNEL = 'dbkit:query';
/** Published for each query at or above its `slowQueryMs` threshold: the {@link QueryEvent}. */
export const QUERY_SLOW_CHANNEL = 'dbkit:query:slow';
/** Published for each N+1 pattern found when a tracking scope ends: the {@link NPlusOneReport}. */
export const QUERY_N_PLUS_ONE_CHANNEL = 'dbkit:query:n-plus-one';

export const queryTracing = diagnosticsChannel.tracingChannel(QUERY_TRACING_CHANNEL);
export const slowChannel = diagnosticsChannel.channel(QUERY_SLOW_CHANNEL);
export const nPlusOneChannel = diagnosticsChannel.channel(QUERY_N_PLUS_ONE_CHANNEL);
