/**
 * Where pprof is served, apart from the profiler itself (`pprof.ts`), so
 * the start-up can log and route the path without loading the profiler.
 *
 * @module
 */

/** etcd's pprof prefix (logged at start-up as etcd does). */
export const PPROF_PREFIX = "/debug/pprof";
/** Where the CPU profile is served. */
export const PPROF_PROFILE_PATH = `${PPROF_PREFIX}/profile`;
