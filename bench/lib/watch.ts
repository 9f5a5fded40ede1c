/**
 * The watch rows: parameters of `kvtool -mode watch` (bench/kvtool/watch.go)
 * and the shape of what it prints.
 *
 * @module
 */

/** kvtool's JSON line in watch mode. */
export interface WatchResult {
  watchers: number;
  watch_conns: number;
  /** Time to open every watcher and have each confirmed by the server. */
  open_ms: number;
  /** Phase (a): sequential puts, each waited for by every watcher. */
  lat_puts: number;
  /** Put -> event samples: one per watcher and put. */
  lat_events: number;
  /** Events not received within 5 s of their put. */
  lat_missing: number;
  lat_p50_ms: number;
  lat_p90_ms: number;
  lat_p99_ms: number;
  lat_max_ms: number;
  /**
   * Phase (b): puts by `clients` requesters while the watchers receive;
   * absent when phase (a) failed.
   */
  clients?: number;
  conns?: number;
  total?: number;
  ok?: number;
  errors?: number;
  seconds?: number;
  /** Successful puts per second. */
  rps?: number;
  p50_ms?: number;
  p90_ms?: number;
  p99_ms?: number;
  /** ok × watchers: every put reaches every watcher. */
  events_expected?: number;
  /** Events of phase (b) the watchers received. */
  events?: number;
  /** Time after the last put until the watchers had every event (or the bound). */
  drain_ms?: number;
  /** events / (put time + drain time). */
  events_per_s?: number;
  /** Set when something failed; the figures present are still reported. */
  error?: string;
}

/** The watch workload, identical for both servers. */
export interface WatchWorkload {
  watchers: number;
  /** Connections the watchers share (one watch stream on each). */
  watchConns: number;
  /** Sequential puts timed put -> event. */
  latencyPuts: number;
  /** Requesters and connections of the throughput phase. */
  clients: number;
  conns: number;
  /** Puts of the throughput phase (each delivered to every watcher). */
  total: number;
  /** Bound on waiting for the watchers to receive the last events, s. */
  drainS: number;
}

/**
 * 1,000 watchers over 10 connections on one prefix. 5,000 throughput puts
 * are 5 million events: about 2 s of client work against etcd here, which
 * keeps the client (sharing the 2 cores) from dominating.
 */
export const WATCH: WatchWorkload = {
  watchers: 1000,
  watchConns: 10,
  latencyPuts: 200,
  clients: 100,
  conns: 10,
  total: 5000,
  drainS: 45,
};

/** kvtool arguments for the watch workload against `endpoint`, bounded by `timeoutS`. */
export function watchArgs(w: WatchWorkload, endpoint: string, timeoutS: number): string[] {
  return [
    "-mode",
    "watch",
    "-endpoint",
    endpoint,
    "-watchers",
    String(w.watchers),
    "-wconns",
    String(w.watchConns),
    "-latputs",
    String(w.latencyPuts),
    "-clients",
    String(w.clients),
    "-conns",
    String(w.conns),
    "-total",
    String(w.total),
    "-val",
    "256",
    "-drain",
    `${w.drainS}s`,
    "-timeout",
    `${timeoutS}s`,
  ];
}
