/**
 * etcd's counters of work done on the key-value store and the lessor:
 * `etcd_mvcc_{range,put,delete,txn}_total` (with their 3.4
 * `etcd_debugging_mvcc_*` twins), `etcd_debugging_mvcc_total_put_size_in_bytes`
 * and `etcd_debugging_lease_{granted,revoked,renewed}_total` with the
 * `etcd_debugging_lease_ttl_total` histogram.
 *
 * Revoking a lease deletes its keys in one write transaction, one delete
 * per key, as etcd's lessor does: {@link ApplyMetrics.applying} notes how
 * many keys the lease has before the revoke removes them.
 *
 * Every request's apply is timed in `etcd_server_apply_duration_seconds`
 * under etcd's name for its kind, successful or not (a "compacted"
 * refusal counts as success, as in etcd).
 *
 * Compaction: etcd compacts its in-memory index (a pause), then deletes
 * the old revisions from bbolt in batches (a pause each) in the
 * background. cairn does both in one in-memory pass as the Compact entry
 * applies, so that pass is the index pause, the one batch's pause and the
 * total; the revisions it drops are `etcd_debugging_mvcc_db_compaction_keys_total`.
 *
 * etcd counts at its metered store transactions: every Range, Put and
 * DeleteRange a transaction performs, and a transaction of more than one
 * such operation as one "txn". Its appliers read the previous pair before
 * a put with prev_kv, ignore_value or ignore_lease and before a delete with
 * prev_kv; a Txn evaluates its compares in a read transaction first, then
 * runs the chosen branch in a write transaction (one transaction for a
 * read-only Txn). {@link ApplyMetrics.applied} counts an applied request
 * the same way from the request and its response, on every member, as each
 * member applies it. One difference: etcd stops at a Txn's first false
 * compare, and the response does not say which one it was, so every
 * compare of a failed chain is counted.
 *
 * @module
 */
import { EtcdErrors, isEtcdError } from "../errors.ts";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import type {
  LeaseGrantResponse,
  PutRequest,
  TxnRequest,
  TxnResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { histogramSeries, type HistogramSpec } from "./define.ts";
import {
  Counter,
  exponentialBuckets,
  Gauge,
  Histogram,
  type HistogramChild,
  type Registry,
} from "./registry.ts";

/** What one metered transaction did. */
interface Tally {
  ranges: number;
  puts: number;
  deletes: number;
  putBytes: number;
}

const tally = (): Tally => ({ ranges: 0, puts: 0, deletes: 0, putBytes: 0 });

/**
 * A store counter under etcd 3.5's name `etcd_mvcc_<what>_total` and its
 * etcd 3.4 twin `etcd_debugging_mvcc_<what>_total`, which move together.
 */
class StoreCounter {
  readonly #current: Counter;
  readonly #debugging: Counter;

  /** @param help the help text of the current name, without its final period */
  constructor(reg: Registry, what: string, help: string) {
    this.#current = new Counter(reg, { name: `etcd_mvcc_${what}_total`, help: `${help}.` });
    this.#debugging = new Counter(reg, {
      name: `etcd_debugging_mvcc_${what}_total`,
      help: `${help} (etcd 3.4's name).`,
    });
  }

  inc(n = 1): void {
    this.#current.inc(n);
    this.#debugging.inc(n);
  }
}

/** The compaction timings (cairn's one in-memory pass is all three), with etcd's buckets. */
const COMPACTION_MS = {
  index: {
    name: "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
    help: "Duration of compacting the key index, in milliseconds.",
    buckets: exponentialBuckets(0.5, 2, 14),
  },
  dbPause: {
    name: "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
    help: "Duration of each batch of revisions removed by compaction, in milliseconds.",
    buckets: exponentialBuckets(1, 2, 13),
  },
  dbTotal: {
    name: "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
    help: "Duration of a whole compaction, in milliseconds.",
    buckets: exponentialBuckets(100, 2, 14),
  },
} satisfies Record<string, HistogramSpec>;

/** The store and lessor counters of one member. */
export class ApplyMetrics {
  readonly #ranges: StoreCounter;
  readonly #puts: StoreCounter;
  readonly #deletes: StoreCounter;
  readonly #txns: StoreCounter;
  readonly #putBytes: Gauge;
  readonly leasesGranted: Counter;
  readonly leasesRevoked: Counter;
  /** Keep-alives that renewed a lease on this member as leader (the Lease service counts them). */
  readonly leasesRenewed: Counter;
  readonly #leaseTtls: Histogram;
  /** Keys attached to a lease now (set by the member; none known before). */
  leaseKeys: (id: bigint) => number = () => 0;
  /** Keys of the lease being revoked, noted before the revoke. */
  #revokedKeys = 0;
  /** Versions the store retains now (set by the member; none known before). */
  storeVersions: () => number = () => 0;
  readonly #compactionMs: Record<keyof typeof COMPACTION_MS, HistogramChild>;
  readonly #dbCompactionKeys: Counter;
  readonly #dbCompactionLast: Gauge;
  /** When the compaction being applied started, and how many versions there were. */
  #compacting = { startedMs: 0, versions: 0 };
  readonly #applySeconds: Histogram;
  /** Apply-duration series bound per request kind, for successes and refusals. */
  readonly #appliedOk = new Map<string, HistogramChild>();
  readonly #appliedFailed = new Map<string, HistogramChild>();
  /** When the request being applied started (performance.now()). */
  #applyStartedMs = 0;

  constructor(reg: Registry) {
    const counter = (name: string, help: string) => new Counter(reg, { name, help });
    this.#ranges = new StoreCounter(reg, "range", "Ranges performed on the store");
    this.#puts = new StoreCounter(reg, "put", "Puts applied to the store");
    this.#deletes = new StoreCounter(reg, "delete", "Delete-ranges applied to the store");
    this.#txns = new StoreCounter(
      reg,
      "txn",
      "Store transactions of more than one range, put or delete",
    );
    // A gauge in etcd although it only grows.
    this.#putBytes = new Gauge(reg, {
      name: "etcd_debugging_mvcc_total_put_size_in_bytes",
      help: "Bytes of keys and values put (a gauge, as in etcd).",
    });
    this.leasesGranted = counter("etcd_debugging_lease_granted_total", "Leases granted.");
    this.leasesRevoked = counter(
      "etcd_debugging_lease_revoked_total",
      "Leases revoked (by request or on expiry).",
    );
    this.leasesRenewed = counter(
      "etcd_debugging_lease_renewed_total",
      "Lease keep-alives renewed by this member as leader.",
    );
    this.#leaseTtls = new Histogram(reg, {
      name: "etcd_debugging_lease_ttl_total",
      help: "TTLs of the leases granted, in seconds.",
      buckets: exponentialBuckets(1, 2, 24),
    });
    this.#applySeconds = new Histogram(reg, {
      name: "etcd_server_apply_duration_seconds",
      help: "Duration of applying each committed request, by kind and outcome, in seconds.",
      // In the order Go's client prints them (sorted by name).
      labelNames: ["op", "success", "version"],
      buckets: exponentialBuckets(0.0001, 2, 20),
    });
    this.#compactionMs = histogramSeries(reg, COMPACTION_MS);
    this.#dbCompactionKeys = counter(
      "etcd_debugging_mvcc_db_compaction_keys_total",
      "Revisions removed by compaction.",
    );
    this.#dbCompactionLast = new Gauge(reg, {
      name: "etcd_debugging_mvcc_db_compaction_last",
      help: "Unix time of the last compaction (0 since start until one runs).",
    });
  }

  /** A Range request served from the store (one read transaction of one range). */
  rangeServed(): void {
    this.#record(1, 0, 0, 0);
  }

  /** Before a request applies: a lease revoke's keys are counted while they exist. */
  applying(req: InternalRequest): void {
    this.#applyStartedMs = performance.now();
    const r = req.request;
    if (r.case === "leaseRevoke") this.#revokedKeys = this.leaseKeys(r.value.ID);
    else if (r.case === "compaction") {
      this.#compacting = { startedMs: performance.now(), versions: this.storeVersions() };
    }
  }

  /**
   * Counts an applied request from the request and the response it
   * produced (only requests that succeeded: a refused one changed nothing).
   */
  applied(req: InternalRequest, response: unknown): void {
    const r = req.request;
    this.#timeApply(r.case, true);
    switch (r.case) {
      case "put": {
        // The put path: no allocation, a few additions.
        const p = r.value;
        const reads = p.prevKv || p.ignoreValue || p.ignoreLease ? 1 : 0;
        this.#record(reads, 1, 0, p.key.length + p.value.length);
        break;
      }
      case "deleteRange":
        this.#record(r.value.prevKv ? 1 : 0, 0, 1, 0);
        break;
      case "txn":
        this.#countTxn(r.value, response as TxnResponse);
        break;
      case "leaseGrant":
        this.leasesGranted.inc();
        this.#leaseTtls.observe(Number((response as LeaseGrantResponse).TTL));
        break;
      case "leaseRevoke":
        this.leasesRevoked.inc();
        this.#record(0, 0, this.#revokedKeys, 0);
        this.#revokedKeys = 0;
        break;
      case "compaction": {
        const took = performance.now() - this.#compacting.startedMs;
        const ms = this.#compactionMs;
        ms.index.observe(took);
        ms.dbPause.observe(took);
        ms.dbTotal.observe(took);
        this.#dbCompactionKeys.inc(Math.max(0, this.#compacting.versions - this.storeVersions()));
        this.#dbCompactionLast.set(Math.floor(Date.now() / 1000));
        // etcd's applier then reads a key to learn the current revision.
        this.#record(1, 0, 0, 0);
        break;
      }
    }
  }

  /** A request was refused with an etcd error (it changed nothing). */
  refused(req: InternalRequest, err: Error): void {
    // etcd counts an apply refused as compacted as a success.
    this.#timeApply(req.request.case, isEtcdError(err, EtcdErrors.compacted));
  }

  #timeApply(kind: string | undefined, ok: boolean): void {
    const key = kind ?? "";
    const bound = ok ? this.#appliedOk : this.#appliedFailed;
    let h = bound.get(key);
    if (h === undefined) {
      h = this.#applySeconds.labels(OPS[key] ?? "unknown", ok ? "true" : "false", "v3");
      bound.set(key, h);
    }
    h.observe((performance.now() - this.#applyStartedMs) / 1000);
  }

  #countTxn(req: TxnRequest, resp: TxnResponse): void {
    const read = tally();
    const write = tally();
    walkTxn(req, resp, read, write);
    if (!txnWrites(req)) {
      // etcd runs a read-only Txn in one read transaction.
      this.#record(read.ranges + write.ranges, 0, 0, 0);
      return;
    }
    this.#record(read.ranges, read.puts, read.deletes, read.putBytes);
    this.#record(write.ranges, write.puts, write.deletes, write.putBytes);
  }

  /** One metered transaction ended: etcd's metricsTxnWrite.End. */
  #record(ranges: number, puts: number, deletes: number, putBytes: number): void {
    if (ranges + puts + deletes > 1) this.#txns.inc();
    if (ranges > 0) this.#ranges.inc(ranges);
    if (puts > 0) {
      this.#puts.inc(puts);
      this.#putBytes.inc(putBytes);
    }
    if (deletes > 0) this.#deletes.inc(deletes);
  }
}

/**
 * A Txn's put: ignore_* is checked in the compare transaction (`check`),
 * then the previous pair is read for prev_kv or ignore_* before writing.
 */
function countPut(p: PutRequest, check: Tally, write: Tally): void {
  if (p.ignoreValue || p.ignoreLease) check.ranges++;
  if (p.prevKv || p.ignoreValue || p.ignoreLease) write.ranges++;
  write.puts++;
  write.putBytes += p.key.length + p.value.length;
}

/** Counts the compares and the chosen branch of `req` (and of its nested txns). */
function walkTxn(req: TxnRequest, resp: TxnResponse, read: Tally, write: Tally): void {
  read.ranges += req.compare.length;
  const ops = resp.succeeded ? req.success : req.failure;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i].request;
    switch (op.case) {
      case "requestRange":
        write.ranges++;
        break;
      case "requestPut":
        countPut(op.value, read, write);
        break;
      case "requestDeleteRange":
        if (op.value.prevKv) write.ranges++;
        write.deletes++;
        break;
      case "requestTxn": {
        const nested = resp.responses[i]?.response;
        if (nested?.case === "responseTxn") walkTxn(op.value, nested.value, read, write);
        break;
      }
    }
  }
}

/** etcd's name for each kind of request in etcd_server_apply_duration_seconds. */
const OPS: Record<string, string> = {
  put: "Put",
  deleteRange: "DeleteRange",
  txn: "Txn",
  compaction: "Compaction",
  leaseGrant: "LeaseGrant",
  leaseRevoke: "LeaseRevoke",
  leaseCheckpoint: "LeaseCheckpoint",
  alarm: "Alarm",
  memberAttributes: "ClusterMemberAttrSet",
  authEnable: "AuthEnable",
  authDisable: "AuthDisable",
  authenticate: "Authenticate",
  userAdd: "AuthUserAdd",
  userDelete: "AuthUserDelete",
  userChangePassword: "AuthUserChangePassword",
  userGrantRole: "AuthUserGrantRole",
  userRevokeRole: "AuthUserRevokeRole",
  roleAdd: "AuthRoleAdd",
  roleDelete: "AuthRoleDelete",
  roleGrantPermission: "AuthRoleGrantPermission",
  roleRevokePermission: "AuthRoleRevokePermission",
};

/** Whether a txn puts or deletes in any branch at any depth (etcd's !isTxnReadonly). */
function txnWrites(txn: TxnRequest): boolean {
  for (const op of [...txn.success, ...txn.failure]) {
    const r = op.request;
    if (r.case === "requestPut" || r.case === "requestDeleteRange") return true;
    if (r.case === "requestTxn" && txnWrites(r.value)) return true;
  }
  return false;
}
