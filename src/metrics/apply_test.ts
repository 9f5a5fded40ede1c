import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type InternalRequest, InternalRequestSchema } from "../gen/cairn/internal_pb.ts";
import {
  CompareSchema,
  LeaseGrantResponseSchema,
  type RequestOp,
  RequestOpSchema,
  type ResponseOp,
  ResponseOpSchema,
  TxnRequestSchema,
  type TxnResponse,
  TxnResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { ApplyMetrics } from "./apply.ts";
import { Registry } from "./registry.ts";

const enc = new TextEncoder();
const b = (s: string) => enc.encode(s);
type Req = MessageInitShape<typeof InternalRequestSchema>["request"];

/** The counters that etcd's metered transactions keep, read back from the registry. */
async function counts(reg: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await reg.render()).split("\n")) {
    const m = /^(etcd_\w+?)(?:_total)? (\S+)$/.exec(line);
    if (m) out[m[1].replace(/^etcd_(debugging_)?/, "")] = Number(m[2]);
  }
  return out;
}

function setup() {
  const reg = new Registry();
  return { reg, m: new ApplyMetrics(reg) };
}

function req(request: Req): InternalRequest {
  return create(InternalRequestSchema, { request });
}

const put = (key: string, opts: { prevKv?: boolean; ignoreValue?: boolean } = {}): RequestOp =>
  create(RequestOpSchema, {
    request: { case: "requestPut", value: { key: b(key), value: b("vv"), ...opts } },
  });
const range = (key: string): RequestOp =>
  create(RequestOpSchema, { request: { case: "requestRange", value: { key: b(key) } } });
const cmp = (key: string) => create(CompareSchema, { key: b(key) });
const respOf = (succeeded: boolean, responses: ResponseOp[] = []): TxnResponse =>
  create(TxnResponseSchema, { succeeded, responses });

Deno.test("apply metrics: a plain put is one put in a transaction of one, its bytes counted", async () => {
  const { reg, m } = setup();
  m.applied(req({ case: "put", value: { key: b("key"), value: b("value") } }), undefined);
  const c = await counts(reg);
  assert.equal(c.mvcc_put, 1);
  assert.equal(c.mvcc_range, 0);
  assert.equal(c.mvcc_txn, 0);
  assert.equal(c.mvcc_total_put_size_in_bytes, 8);
});

Deno.test("apply metrics: prev_kv reads before writing, which makes a txn (etcd's applier)", async () => {
  const { reg, m } = setup();
  m.applied(req({ case: "put", value: { key: b("k"), prevKv: true } }), undefined);
  m.applied(req({ case: "deleteRange", value: { key: b("k"), prevKv: true } }), undefined);
  m.applied(req({ case: "deleteRange", value: { key: b("k") } }), undefined);
  m.rangeServed();
  const c = await counts(reg);
  assert.deepEqual(
    [c.mvcc_put, c.mvcc_delete, c.mvcc_range, c.mvcc_txn],
    [1, 2, 3, 2],
  );
});

Deno.test("apply metrics: a writing Txn is a compare transaction, then a write transaction", async () => {
  const { reg, m } = setup();
  const txn = create(TxnRequestSchema, {
    compare: [cmp("a"), cmp("b")],
    success: [put("a"), range("a")],
    failure: [range("z")],
  });
  m.applied(req({ case: "txn", value: txn }), respOf(true));
  const c = await counts(reg);
  // Two compare reads (a txn of two), then a put and a range (another).
  assert.deepEqual([c.mvcc_range, c.mvcc_put, c.mvcc_txn], [3, 1, 2]);
});

Deno.test("apply metrics: a read-only Txn is one transaction; the failure branch is the one counted", async () => {
  const { reg, m } = setup();
  const txn = create(TxnRequestSchema, {
    compare: [cmp("a")],
    success: [range("a"), range("b"), range("c")],
    failure: [range("z")],
  });
  m.applied(req({ case: "txn", value: txn }), respOf(false));
  const c = await counts(reg);
  assert.deepEqual([c.mvcc_range, c.mvcc_put, c.mvcc_txn], [2, 0, 1]);
});

Deno.test("apply metrics: nested txns add their compares and chosen ops; ignore_value is checked first", async () => {
  const { reg, m } = setup();
  const inner = create(TxnRequestSchema, {
    compare: [cmp("i")],
    success: [put("x")],
    failure: [put("y", { ignoreValue: true }), put("z")],
  });
  const outer = create(TxnRequestSchema, {
    success: [create(RequestOpSchema, { request: { case: "requestTxn", value: inner } })],
  });
  const nested = create(ResponseOpSchema, {
    response: { case: "responseTxn", value: respOf(false) },
  });
  m.applied(req({ case: "txn", value: outer }), respOf(true, [nested]));
  const c = await counts(reg);
  // Read: the inner compare and the ignore_value check (a txn of two).
  // Write: the ignore_value put's read, then two puts (another txn).
  assert.deepEqual([c.mvcc_range, c.mvcc_put, c.mvcc_txn], [3, 2, 2]);
});

Deno.test("apply metrics: leases granted (with their TTL), revoked and renewed", async () => {
  const { reg, m } = setup();
  const grant = create(LeaseGrantResponseSchema, { ID: 7n, TTL: 60n });
  m.applied(req({ case: "leaseGrant", value: { TTL: 60n } }), grant);
  m.applied(req({ case: "leaseRevoke", value: { ID: 7n } }), undefined);
  m.leasesRenewed.inc();
  const c = await counts(reg);
  assert.deepEqual([c.lease_granted, c.lease_revoked, c.lease_renewed], [1, 1, 1]);
  const text = await reg.render();
  assert.match(text, /^etcd_debugging_lease_ttl_total_bucket\{le="32"\} 0$/m);
  assert.match(text, /^etcd_debugging_lease_ttl_total_bucket\{le="64"\} 1$/m);
  assert.match(text, /^etcd_debugging_lease_ttl_total_sum 60$/m);
});

Deno.test("apply metrics: a revoke deletes the lease's keys in one transaction, counted before they go", async () => {
  const { reg, m } = setup();
  const keys = new Map([[7n, 3], [8n, 1]]);
  m.leaseKeys = (id) => keys.get(id) ?? 0;
  for (const id of [7n, 8n, 9n]) {
    const revoke = req({ case: "leaseRevoke", value: { ID: id } });
    m.applying(revoke);
    keys.delete(id); // the revoke removes them
    m.applied(revoke, undefined);
  }
  const c = await counts(reg);
  assert.deepEqual([c.lease_revoked, c.mvcc_delete, c.mvcc_txn], [3, 4, 1]);
});

Deno.test("apply metrics: a compaction is timed as etcd's three phases and counts the revisions it drops", async () => {
  const { reg, m } = setup();
  let versions = 10;
  m.storeVersions = () => versions;
  const compact = req({ case: "compaction", value: { revision: 5n } });
  m.applying(compact);
  versions = 7;
  m.applied(compact, undefined);
  const text = await reg.render();
  assert.match(text, /^etcd_debugging_mvcc_db_compaction_keys_total 3$/m);
  // Then a read of the current revision, as etcd's applier does.
  assert.match(text, /^etcd_mvcc_range_total 1$/m);
  for (
    const phase of ["index_compaction_pause", "db_compaction_pause", "db_compaction_total"]
  ) {
    assert.match(
      text,
      new RegExp(`^etcd_debugging_mvcc_${phase}_duration_milliseconds_count 1$`, "m"),
    );
  }
  const last = Number(/^etcd_debugging_mvcc_db_compaction_last (\S+)$/m.exec(text)![1]);
  assert.ok(Math.abs(last - Date.now() / 1000) < 60, `last compaction at ${last}`);
});

Deno.test("apply metrics: requests that change no store counter leave them alone", async () => {
  const { reg, m } = setup();
  const before = await counts(reg);
  for (
    const r of [
      req({ case: "authEnable", value: {} }),
      req({ case: "leaseCheckpoint", value: {} }),
    ]
  ) {
    m.applying(r);
    m.applied(r, undefined);
  }
  assert.deepEqual(await counts(reg), before);
});

Deno.test("apply metrics: every apply is timed under etcd's name for its kind and its outcome", async () => {
  const { reg, m } = setup();
  const put = req({ case: "put", value: { key: b("k") } });
  const compact = req({ case: "compaction", value: { revision: 1n } });
  const grant = req({ case: "leaseGrant", value: { TTL: 5n } });
  m.applying(put);
  m.applied(put, undefined);
  m.applying(compact);
  m.refused(compact, EtcdErrors.compacted()); // a success for etcd
  m.applying(grant);
  m.refused(grant, EtcdErrors.noSpace());
  const text = await reg.render();
  const count = (labels: string) =>
    Number(
      new RegExp(`^etcd_server_apply_duration_seconds_count\\{${labels}\\} (\\S+)$`, "m")
        .exec(text)?.[1],
    );
  assert.equal(count('op="Put",success="true",version="v3"'), 1);
  assert.equal(count('op="Compaction",success="true",version="v3"'), 1);
  assert.equal(count('op="LeaseGrant",success="false",version="v3"'), 1);
});
