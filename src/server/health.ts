/**
 * etcd 3.5's health checks (server/etcdserver/api/etcdhttp/health.go),
 * without HTTP: `/health` (alarms, then leader, then a Range of one key,
 * linearizable unless asked for serializable) and the named checks of
 * `/livez` (`serializable_read`) and `/readyz` (`data_corruption`,
 * `serializable_read`, `linearizable_read`, `non_learner`). `src/http`
 * turns the answers into etcd's responses; this module keeps etcd's
 * reasons and counts the outcomes in etcd's health metrics.
 *
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import { AlarmType } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics/etcd.ts";

/** What the checks read from the member. */
export interface HealthTarget {
  /** Active alarms (their types). */
  alarms(): readonly { alarm: AlarmType }[];
  /** The known leader's id, 0n when none. */
  leader(): bigint;
  isLearner(): boolean;
  /**
   * A Range of one key, keys only: a local read when `serializable`, else
   * one through ReadIndex (rejects with etcd's error, e.g. a timeout).
   */
  read(serializable: boolean): Promise<void>;
}

/** The answer of /health, as etcd marshals it. */
export interface Health {
  health: "true" | "false";
  reason: string;
}

/** Which family of named checks. */
export type CheckType = "livez" | "readyz";

/** The outcome of a /livez or /readyz request. */
export interface CheckOutcome {
  ok: boolean;
  /** One `[+]name ok` or `[-]name failed: reason` line per check run. */
  reason: string;
}

type Check = () => Promise<void>;

/** Runs etcd's health checks against one member. */
export class HealthChecker {
  readonly #target: HealthTarget;
  readonly #log: Logger;
  readonly #metrics: ServerMetrics | undefined;
  readonly #checks: Record<CheckType, Map<string, Check>>;

  constructor(target: HealthTarget, log: Logger, metrics?: ServerMetrics) {
    this.#target = target;
    this.#log = log;
    this.#metrics = metrics;
    const serializableRead: Check = () => target.read(true);
    this.#checks = {
      livez: new Map([["serializable_read", serializableRead]]),
      readyz: new Map<string, Check>([
        ["data_corruption", () => this.#noAlarm(AlarmType.CORRUPT)],
        // Both reads: which one fails tells a local problem from a lost quorum.
        ["serializable_read", serializableRead],
        ["linearizable_read", () => target.read(false)],
        ["non_learner", () => this.#notLearner()],
      ]),
    };
  }

  /** The check names of `type`, in the order they run. */
  names(type: CheckType): string[] {
    return [...this.#checks[type].keys()];
  }

  /**
   * /health: the first alarm not in `excluded` (by name, "NOSPACE",
   * "CORRUPT"), then no leader (unless `serializable`), then a Range.
   */
  async health(excluded: ReadonlySet<string>, serializable: boolean): Promise<Health> {
    const h = await this.#health(excluded, serializable);
    if (h.health === "true") this.#metrics?.healthSuccess.inc();
    else this.#metrics?.healthFailures.inc();
    return h;
  }

  async #health(excluded: ReadonlySet<string>, serializable: boolean): Promise<Health> {
    for (const a of this.#target.alarms()) {
      const name = AlarmType[a.alarm] ?? String(a.alarm);
      if (excluded.has(name)) continue;
      const reason = a.alarm === AlarmType.NOSPACE
        ? "ALARM NOSPACE"
        : a.alarm === AlarmType.CORRUPT
        ? "ALARM CORRUPT"
        : "ALARM UNKNOWN";
      this.#log.warn("serving /health false due to an alarm", { alarm: name });
      return { health: "false", reason };
    }
    if (!serializable && this.#target.leader() === 0n) {
      this.#log.warn("serving /health false; no leader");
      return { health: "false", reason: "RAFT NO LEADER" };
    }
    try {
      await this.#target.read(serializable);
    } catch (err) {
      this.#log.warn("serving /health false; Range fails", { error: errorText(err) });
      return { health: "false", reason: `RANGE ERROR:${errorText(err)}` };
    }
    return { health: "true", reason: "" };
  }

  /**
   * Runs the checks `names` of `type` one after the other (etcd runs them
   * in turn too) and records each outcome. Unknown names are a caller bug.
   */
  async run(type: CheckType, names: readonly string[]): Promise<CheckOutcome> {
    let ok = true;
    let reason = "";
    for (const name of names) {
      const check = this.#checks[type].get(name);
      if (check === undefined) throw new Error(`health check ${name} is not registered`);
      let failure: string | undefined;
      try {
        await check();
      } catch (err) {
        failure = errorText(err);
      }
      if (failure === undefined) reason += `[+]${name} ok\n`;
      else {
        ok = false;
        reason += `[-]${name} failed: ${failure}\n`;
      }
      this.#record(type, name, failure === undefined);
    }
    return { ok, reason };
  }

  /**
   * The checks of `type` minus `excluded` (names to exclude that are not
   * checks are ignored with a warning, as etcd does for compatibility).
   */
  filter(type: CheckType, excluded: ReadonlySet<string>): string[] {
    const names = this.names(type);
    const missing = [...excluded].filter((e) => !names.includes(e));
    if (missing.length > 0) {
      this.#log.warn("some health checks cannot be excluded", {
        "missing-health-checks": missing.map((m) => JSON.stringify(m)).join(","),
      });
    }
    return names.filter((n) => !excluded.has(n));
  }

  #noAlarm(type: AlarmType): Promise<void> {
    if (this.#target.alarms().some((a) => a.alarm === type)) {
      return Promise.reject(new Error(`alarm activated: ${AlarmType[type]}`));
    }
    return Promise.resolve();
  }

  #notLearner(): Promise<void> {
    if (this.#target.isLearner()) return Promise.reject(new Error("not supported for learner"));
    return Promise.resolve();
  }

  #record(type: CheckType, name: string, ok: boolean): void {
    const m = this.#metrics;
    if (!m) return;
    m.healthCheck.labels(type, name).set(ok ? 1 : 0);
    m.healthChecks.labels(type, name, ok ? "success" : "error").inc();
  }
}

/** The error text etcd prints: the server error's own message, without a gRPC code prefix. */
function errorText(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage;
  return err instanceof Error ? err.message : String(err);
}
