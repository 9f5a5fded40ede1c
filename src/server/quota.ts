/**
 * etcd's backend quota (`--quota-backend-bytes`): a write that would take
 * the reserved size to the quota is refused, and the member raises the
 * NOSPACE alarm through the log so every member refuses writes until an
 * operator frees space and disarms it.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Config } from "../config.ts";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { StateMachine } from "./apply.ts";

/** etcd's default backend quota (2 GiB) when --quota-backend-bytes is 0. */
const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

/** The quota in force: `--quota-backend-bytes`, or etcd's default when it is 0. */
export function quotaBytes(cfg: Pick<Config, "quotaBackendBytes">): number {
  return cfg.quotaBackendBytes > 0 ? cfg.quotaBackendBytes : DEFAULT_QUOTA_BYTES;
}

/** What the quota check needs of its member. */
export interface QuotaHost {
  readonly selfId: bigint;
  readonly cfg: Pick<Config, "quotaBackendBytes">;
  /** The state machine (its store is replaced by snapshot installs, so read it each time). */
  readonly sm: Pick<StateMachine, "store" | "alarms">;
  readonly log: Logger;
  /** Proposes the alarm through the log. */
  propose(request: InternalRequest["request"]): Promise<unknown>;
}

/** The backend quota of one member. */
export class BackendQuota {
  readonly #host: QuotaHost;

  /** @param host the member whose writes are checked. */
  constructor(host: QuotaHost) {
    this.#host = host;
  }

  /**
   * Throws `etcdserver: mvcc: database space exceeded` when the reserved
   * size (like etcd's backend file size: compaction alone does not lower
   * it, a Defragment does) plus `cost` would reach the quota, after
   * proposing the NOSPACE alarm unless this member already raised it.
   */
  check(cost: number): void {
    const host = this.#host;
    if (host.sm.store.reservedSize() + cost < quotaBytes(host.cfg)) return;
    const raised = host.sm.alarms.some((a) =>
      a.alarm === AlarmType.NOSPACE && a.memberID === host.selfId
    );
    if (!raised) {
      host.propose({
        case: "alarm",
        value: create(AlarmRequestSchema, {
          action: AlarmRequest_AlarmAction.ACTIVATE,
          memberID: host.selfId,
          alarm: AlarmType.NOSPACE,
        }),
      }).catch((err) => host.log.warn("failed to raise NOSPACE alarm", { error: String(err) }));
    }
    throw EtcdErrors.noSpace();
  }
}
