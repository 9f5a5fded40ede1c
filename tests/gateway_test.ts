/**
 * Differential tests of etcd's JSON gateway: the same HTTP requests (as
 * curl sends them) to etcd 3.4 and cairn, answers compared after
 * normalisation (`harness/gateway.ts`): status, content type and the body
 * byte for byte, revisions included. One etcd and one cairn are shared by
 * the tests of this file, which run in order so revisions stay aligned.
 *
 * etcd 3.4 is the reference installed here; cairn implements etcd 3.5's
 * gateway. Where the two etcd versions differ the 3.4 answer is mapped to
 * 3.5's (`etcd34To35`), and paths 3.4 lacks (maintenance/hashkv,
 * auth/status) are checked against 3.5's documented shape on cairn alone.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { Pair } from "./harness/compare.ts";
import {
  etcd34To35,
  type GatewayAnswer,
  GatewayStream,
  normalizeBody,
  parseUnaryError,
  post,
} from "./harness/gateway.ts";
import { startCluster } from "./harness/cluster.ts";
import type { Member } from "./harness/member.ts";
import { sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("gateway_test.ts");

let shared: Promise<Pair> | undefined;

let sharedPair: Pair | undefined;

async function pair(): Promise<Pair> {
  shared ??= Pair.start(["--log-level=warn"]);
  return sharedPair = await shared;
}

const b64 = (s: string) => btoa(s);

/** What to compare of an answer. */
interface Compare {
  /** Request headers. */
  headers?: Record<string, string>;
  method?: string;
  /** Error texts differ (Go's and JavaScript's JSON parsers): compare status and code only. */
  codeOnly?: boolean;
  /** Also require this HTTP status. */
  status?: number;
}

/** Sends one request to both members and asserts the answers match; returns cairn's. */
async function same(path: string, body: string, opts: Compare = {}): Promise<GatewayAnswer> {
  const p = await pair();
  const e = etcd34To35(await post(p.etcd, path, body, opts.headers, opts.method));
  const c = await post(p.cairn, path, body, opts.headers, opts.method);
  const what = `${opts.method ?? "POST"} ${path} ${body}`;
  assert.equal(c.status, e.status, `${what}: status (cairn ${c.text} / etcd ${e.text})`);
  assert.equal(c.contentType, e.contentType, `${what}: content type`);
  if (opts.codeOnly) {
    assert.equal(parseUnaryError(c.text)?.code, parseUnaryError(e.text)?.code, `${what}: code`);
  } else {
    assert.equal(normalizeBody(c.text), normalizeBody(e.text), what);
  }
  if (opts.status !== undefined) assert.equal(c.status, opts.status, what);
  if (c.status === 200 && c.contentType === "application/json") {
    assert.equal(c.grpcContentType, e.grpcContentType, `${what}: Grpc-Metadata-Content-Type`);
  }
  return c;
}

/** Opens the same stream on both members. */
function openBoth(
  path: string,
  body: string,
  headers: Record<string, string> = {},
): [GatewayStream, GatewayStream] {
  const p = sharedPair!;
  return [
    GatewayStream.open(p.etcd, path, body, headers),
    GatewayStream.open(p.cairn, path, body, headers),
  ];
}

/**
 * Orders watch results by revision, then watch id: the order in which
 * one stream's watchers get the same revision is not defined (etcd's
 * follows Go's map iteration), each watcher's own order is kept.
 */
function byRevisionAndWatcher(lines: string[]): string[] {
  const key = (line: string) => {
    const rev = /"revision":"(\d+)"/.exec(line)?.[1] ?? "0";
    const id = /"watch_id":"(-?\d+)"/.exec(line)?.[1] ?? "0";
    return [Number(rev), Number(id)];
  };
  return lines.map((line, i) => ({ line, i, k: key(line) }))
    .sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.i - b.i)
    .map((x) => x.line);
}

/** Reads `count` lines from both streams and asserts they match. */
async function sameLines(
  [e, c]: [GatewayStream, GatewayStream],
  count: number,
  what: string,
): Promise<string[]> {
  const [el, cl] = await Promise.all([e.readLines(count), c.readLines(count)]);
  assert.equal(c.status, e.status, `${what}: status`);
  assert.deepEqual(
    byRevisionAndWatcher(cl.map(normalizeBody)),
    byRevisionAndWatcher(el.map(normalizeBody)),
    what,
  );
  assert.equal(cl.length, count, `${what}: ${count} lines (got ${cl.length})`);
  return cl;
}

/** Runs `fn` on both members (etcd first), e.g. writes that a stream should see. */
async function onBoth(fn: (m: Member) => Promise<unknown>): Promise<void> {
  const p = await pair();
  await fn(p.etcd);
  await fn(p.cairn);
}

function gatewayTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await pair();
      await fn();
    },
  });
}

gatewayTest("gateway kv: put, range options, deleterange, txn, compaction", async () => {
  await same("/v3/kv/put", `{"key":"${b64("a")}","value":"${b64("1")}"}`, { status: 200 });
  await same("/v3/kv/put", `{"key":"${b64("b")}","value":"${b64("2")}","prev_kv":true}`);
  await same("/v3/kv/put", `{"key":"${b64("b")}","value":"${b64("3")}","prev_kv":true}`);
  await same("/v3/kv/put", `{"key":"${b64("b")}","ignore_value":true}`);
  await same("/v3/kv/put", `{"key":"${b64("<&>")}","value":"${b64("?>")}"}`);
  const range = `"key":"${b64("a")}","range_end":"${b64("c")}"`;
  await same("/v3/kv/range", `{${range}}`);
  await same("/v3/kv/range", `{${range},"keys_only":true,"limit":1}`);
  await same("/v3/kv/range", `{${range},"count_only":true}`);
  await same("/v3/kv/range", `{${range},"sort_order":"DESCEND","sort_target":"MOD"}`);
  await same("/v3/kv/range", `{${range},"sortOrder":2,"sortTarget":"VALUE"}`);
  await same("/v3/kv/range", `{"key":"${b64("a")}","range_end":"AA=="}`);
  await same("/v3/kv/range", `{${range},"revision":"2","serializable":true}`);
  await same("/v3/kv/range", `{${range},"min_mod_revision":3,"max_create_revision":"9"}`);
  // Unknown fields are ignored, lowerCamelCase names accepted, trailing values ignored.
  await same("/v3/kv/range", `{"key":"${b64("a")}","rangeEnd":"${b64("c")}","zzz":[1]} {"x":1}`);
  await same("/v3/kv/range", `{"key":"${b64("zz")}"}`);
  await same(
    "/v3/kv/txn",
    JSON.stringify({
      compare: [{ key: b64("a"), result: "EQUAL", target: "VALUE", value: b64("1") }],
      success: [
        { request_put: { key: b64("c"), value: b64("4") } },
        { request_range: { key: b64("a") } },
        { request_delete_range: { key: b64("x") } },
      ],
      failure: [{ request_range: { key: b64("b") } }],
    }),
  );
  await same(
    "/v3/kv/txn",
    JSON.stringify({
      compare: [{ key: b64("a"), result: "EQUAL", target: "VALUE", value: b64("2") }],
      success: [{ request_put: { key: b64("c"), value: b64("4") } }],
      failure: [
        { request_range: { key: b64("b") } },
        { request_txn: { success: [{ request_put: { key: b64("d"), value: b64("5") } }] } },
      ],
    }),
  );
  await same(
    "/v3/kv/txn",
    JSON.stringify({
      compare: [{ key: b64("a"), target: "MOD", result: "GREATER", mod_revision: "1" }],
      success: [{ request_range: { key: b64("a"), range_end: b64("z") } }],
    }),
  );
  await same("/v3/kv/deleterange", `{"key":"${b64("c")}","prev_kv":true}`);
  await same("/v3/kv/deleterange", `{"key":"${b64("nothing")}"}`);
  await same("/v3/kv/compaction", `{"revision":"3"}`);
  await same("/v3/kv/range", `{"key":"${b64("a")}","revision":2}`);
});

gatewayTest("gateway errors: statuses, codes and messages", async () => {
  await same("/v3/kv/put", `{}`, { status: 400 });
  await same("/v3/kv/put", ``);
  await same("/v3/kv/range", ``);
  await same("/v3/kv/range", `null`);
  await same("/v3/kv/range", `{"key":"${b64("a")}","revision":1000}`);
  await same("/v3/kv/put", `{"key":"${b64("a")}","lease":12345}`, { status: 404 });
  await same(
    "/v3/kv/txn",
    JSON.stringify({
      success: [
        { request_put: { key: b64("c") } },
        { request_put: { key: b64("c") } },
      ],
    }),
  );
  await same("/v3/kv/compaction", `{"revision":1000}`);
  await same("/v3/kv/compaction", `{"revision":1}`);
  // JSON that does not parse or fit: InvalidArgument (texts are each parser's own).
  await same("/v3/kv/range", `{bad`, { codeOnly: true, status: 400 });
  await same("/v3/kv/range", `{"key":5}`, { codeOnly: true, status: 400 });
  await same("/v3/kv/range", `{"limit":"x"}`, { codeOnly: true, status: 400 });
  // Routing: Go's plain-text answers.
  await same("/v3/kv/nothing", `{}`, { status: 404 });
  await same("/v3/kv", `{}`, { status: 404 });
  await same("/v3/kv/range/", `{}`, { status: 404 });
  await same("/v3/kv/range", ``, { method: "GET", status: 405 });
  await same("/v3/kv/range", `{}`, { method: "PUT", status: 405 });
  // The 3.4 prefix is an alias.
  await same("/v3beta/kv/range", `{"key":"${b64("a")}"}`, { status: 200 });
  await same("/v3beta/lease/leases", `{}`);
  // With a leader, requiring one changes nothing.
  await same("/v3/kv/range", `{"key":"${b64("a")}"}`, {
    headers: { "Grpc-Metadata-hasleader": "true" },
  });
});

gatewayTest("gateway lease: grant, keepalive one-shot, timetolive, leases, revoke", async () => {
  await same("/v3/lease/grant", `{"TTL":60,"ID":1000}`);
  await same("/v3/lease/grant", `{"TTL":60,"ID":1000}`);
  // Lease ids past 2^53 sent as JSON numbers (as etcd3gw does) stay exact.
  await same("/v3/lease/grant", `{"TTL":60,"ID":7587862541563062528}`);
  await same("/v3/lease/timetolive", `{"ID":7587862541563062528}`);
  await same("/v3/kv/put", `{"key":"${b64("l")}","value":"${b64("1")}","lease":"1000"}`);
  await same("/v3/lease/timetolive", `{"ID":1000,"keys":true}`);
  await same("/v3/kv/lease/timetolive", `{"ID":"1000","keys":true}`);
  await same("/v3/lease/timetolive", `{"ID":999}`);
  await same("/v3/lease/leases", `{}`);
  await same("/v3/kv/lease/leases", `{}`);
  // Keep-alive is a stream: one result per request value, newline-terminated.
  const ka = await same("/v3/lease/keepalive", `{"ID":1000}`);
  assert.match(ka.text, /^\{"result":\{"header":\{.*\},"ID":"1000","TTL":"60"\}\}\n$/);
  await same("/v3/lease/keepalive", `{"ID":1000} {"ID":"1000"}`);
  await same("/v3/lease/keepalive", `{"ID":999}`);
  const empty = await same("/v3/lease/keepalive", ``);
  assert.equal(empty.text, "");
  await same("/v3/lease/keepalive", `{"ID":true}`, { codeOnly: true, status: 500 });
  await same("/v3/lease/revoke", `{"ID":999}`, { status: 404 });
  await same("/v3/kv/lease/revoke", `{"ID":7587862541563062528}`);
  await same("/v3/lease/revoke", `{"ID":1000}`);
  await same("/v3/kv/range", `{"key":"${b64("l")}"}`);
});

gatewayTest("gateway watch: streamed results, several watchers, history, cancel", async () => {
  let start = "0";
  const streams = openBoth(
    "/v3/watch",
    JSON.stringify({ create_request: { key: b64("w"), prev_kv: true } }) +
      JSON.stringify({
        create_request: { key: b64("w"), range_end: b64("x"), filters: ["NODELETE"] },
      }),
  );
  try {
    await sameLines(streams, 2, "watch created");
    const first = await same("/v3/kv/put", `{"key":"${b64("w")}","value":"${b64("1")}"}`);
    start = JSON.parse(first.text).header.revision;
    await onBoth((m) => post(m, "/v3/kv/put", `{"key":"${b64("w1")}","value":"${b64("2")}"}`));
    await onBoth((m) => post(m, "/v3/kv/put", `{"key":"${b64("w")}","value":"${b64("3")}"}`));
    await onBoth((m) => post(m, "/v3/kv/deleterange", `{"key":"${b64("w")}"}`));
    const lines = await sameLines(streams, 8, "watch events");
    for (const line of lines) assert.match(line, /^\{"result":\{"header":\{/);
    assert.match(lines.at(-1)!, /"type":"DELETE"/);
  } finally {
    for (const s of streams) s.close();
  }

  // History from a start revision.
  const history = openBoth(
    "/v3/watch",
    JSON.stringify({
      create_request: { key: b64("w"), range_end: b64("x"), start_revision: start },
    }),
  );
  try {
    await sameLines(history, 2, "watch history");
  } finally {
    for (const s of history) s.close();
  }

  // A cancel after a create in the same body.
  const canceled = openBoth(
    "/v3/watch",
    JSON.stringify({ create_request: { key: b64("w") } }) +
      JSON.stringify({ cancel_request: { watch_id: 0 } }),
  );
  try {
    await sameLines(canceled, 2, "watch canceled");
  } finally {
    for (const s of canceled) s.close();
  }

  // A start revision below the compaction: created, then canceled with the compact revision.
  await same("/v3/kv/compaction", `{"revision":"${start}"}`);
  const compacted = openBoth(
    "/v3/watch",
    JSON.stringify({ create_request: { key: b64("a"), start_revision: 1 } }),
  );
  try {
    await sameLines(compacted, 2, "watch compacted");
  } finally {
    for (const s of compacted) s.close();
  }

  // A first request that does not decode fails the call (a plain error: Unknown, 500).
  await same("/v3/watch", `{"create_request":{"key":5}}`, { codeOnly: true, status: 500 });
});

gatewayTest("gateway lock: lock, contention, unlock", async () => {
  await same("/v3/lease/grant", `{"TTL":60,"ID":2000}`);
  await same("/v3/lease/grant", `{"TTL":60,"ID":3000}`);
  const held = await same("/v3/lock/lock", `{"name":"${b64("lk")}","lease":2000}`);
  assert.equal(JSON.parse(held.text).key, b64("lk/7d0"));
  // The same lease locks once: answered at once with the same key.
  await same("/v3/lock/lock", `{"name":"${b64("lk")}","lease":"2000"}`);
  const p = await pair();
  const body = `{"name":"${b64("lk")}","lease":3000}`;
  const waiting = [post(p.etcd, "/v3/lock/lock", body), post(p.cairn, "/v3/lock/lock", body)];
  let settled = false;
  Promise.all(waiting).then(() => (settled = true), () => (settled = true));
  await sleep(500);
  assert.equal(settled, false, "a second owner waits while the lock is held");
  await same("/v3/lock/unlock", `{"key":"${b64("lk/7d0")}"}`);
  const [e, c] = await Promise.all(waiting);
  assert.equal(c.status, 200);
  assert.equal(normalizeBody(c.text), normalizeBody(e.text));
  assert.equal(JSON.parse(c.text).key, b64("lk/bb8"));
  await same("/v3/lock/unlock", `{"key":"${b64("lk/bb8")}"}`);
  // A waiter whose client hangs up gives its place up: its key is deleted.
  await same("/v3/lease/grant", `{"TTL":60,"ID":6000}`);
  await same("/v3/lock/lock", `{"name":"${b64("lk2")}","lease":2000}`);
  const keysUnder = async (m: Member) =>
    JSON.parse(
      (await post(m, "/v3/kv/range", `{"key":"${b64("lk2/")}","range_end":"${b64("lk20")}"}`))
        .text,
    ).kvs?.length ?? 0;
  const waitKeys = async (m: Member, n: number) => {
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(50)) {
      if (await keysUnder(m) === n) return true;
    }
    return false;
  };
  for (const m of [p.etcd, p.cairn]) {
    const hangUp = new AbortController();
    const waiter = fetch(`${m.clientUrl}/v3/lock/lock`, {
      method: "POST",
      body: `{"name":"${b64("lk2")}","lease":6000}`,
      signal: hangUp.signal,
    }).catch(() => undefined);
    assert.ok(await waitKeys(m, 2), `${m.options.kind}: the waiter's key is there`);
    hangUp.abort();
    await waiter;
    assert.ok(await waitKeys(m, 1), `${m.options.kind}: the waiter's key is withdrawn`);
  }
  await same("/v3/lock/unlock", `{"key":"${b64("lk2/7d0")}"}`);
  await same("/v3/lock/lock", `{"name":"${b64("lk")}","lease":12345}`, { status: 500 });
  await same("/v3/lock/unlock", `{}`, { status: 500 });
});

gatewayTest("gateway election: campaign, leader, proclaim, observe, resign", async () => {
  await same("/v3/election/leader", `{"name":"${b64("el")}"}`, { status: 500 });
  await same("/v3/election/proclaim", `{}`, { status: 500 });
  await same("/v3/election/resign", `{}`, { status: 500 });
  await same("/v3/lease/grant", `{"TTL":60,"ID":4000}`);
  await same("/v3/lease/grant", `{"TTL":60,"ID":5000}`);
  const observe = openBoth("/v3/election/observe", `{"name":"${b64("el")}"}`);
  try {
    const won = await same(
      "/v3/election/campaign",
      `{"name":"${b64("el")}","value":"${b64("v1")}","lease":4000}`,
    );
    const leader = JSON.parse(won.text).leader;
    assert.equal(leader.key, b64("el/fa0"));
    await sameLines(observe, 1, "observe: first leader");
    await same("/v3/election/leader", `{"name":"${b64("el")}"}`);
    await same(
      "/v3/election/proclaim",
      JSON.stringify({ leader, value: b64("v2") }),
    );
    await same(
      "/v3/election/proclaim",
      JSON.stringify({ leader: { ...leader, rev: "1" }, value: b64("v3") }),
      { status: 500 },
    );
    await sameLines(observe, 2, "observe: proclamation");
    // A second candidate waits for the leader to resign.
    const p = await pair();
    const body = `{"name":"${b64("el")}","value":"${b64("w1")}","lease":5000}`;
    const waiting = [
      post(p.etcd, "/v3/election/campaign", body),
      post(p.cairn, "/v3/election/campaign", body),
    ];
    await sleep(300);
    await same("/v3/election/resign", JSON.stringify({ leader }));
    const [e, c] = await Promise.all(waiting);
    assert.equal(normalizeBody(c.text), normalizeBody(e.text));
    await sameLines(observe, 3, "observe: next leader");
    await same("/v3/election/leader", `{"name":"${b64("el")}"}`);
  } finally {
    for (const s of observe) s.close();
  }
});

gatewayTest("gateway cluster and maintenance", async () => {
  await same("/v3/cluster/member/list", `{}`);
  await same("/v3/cluster/member/list", `{"linearizable":true}`);
  await same("/v3/cluster/member/remove", `{"ID":1}`, { status: 404 });
  await same("/v3/cluster/member/update", `{"ID":1,"peerURLs":["http://127.0.0.1:1"]}`);
  await same("/v3/cluster/member/promote", `{"ID":1}`);
  await same("/v3/cluster/member/add", `{"peerURLs":["bad"]}`, { status: 400 });
  // Members are listed in id order, and ids are random: compare them by name.
  const p = await pair();
  const byName = (text: string) => {
    const v = JSON.parse(normalizeBody(text));
    v.members.sort((x: { name?: string }, y: { name?: string }) =>
      (x.name ?? "").localeCompare(y.name ?? "")
    );
    return v;
  };
  const addBody = `{"peerURLs":["http://127.0.0.1:1"],"isLearner":true}`;
  const [addE, added] = await Promise.all([
    post(p.etcd, "/v3/cluster/member/add", addBody),
    post(p.cairn, "/v3/cluster/member/add", addBody),
  ]);
  assert.equal(added.status, 200, added.text);
  assert.deepEqual(byName(added.text), byName(addE.text));
  const id = JSON.parse(added.text).member.ID;
  const etcdId = JSON.parse((await post(p.etcd, "/v3/cluster/member/list", "{}")).text).members
    .find((m: { isLearner?: boolean }) => m.isLearner).ID;
  const [e, c] = await Promise.all([
    post(p.etcd, "/v3/cluster/member/remove", `{"ID":"${etcdId}"}`),
    post(p.cairn, "/v3/cluster/member/remove", `{"ID":"${id}"}`),
  ]);
  assert.equal(normalizeBody(c.text), normalizeBody(e.text));
  await same("/v3/maintenance/status", `{}`);
  await same("/v3/maintenance/hash", `{}`);
  await same("/v3/maintenance/defragment", `{}`);
  await same("/v3/maintenance/transfer-leadership", `{"targetID":1}`, { status: 400 });
  // etcd 3.5 fills the alarm answer's header (3.4 answered `{}`).
  for (const body of [`{}`, `{"action":"DEACTIVATE","alarm":"NOSPACE"}`]) {
    const alarm = await post(p.cairn, "/v3/maintenance/alarm", body);
    assert.match(
      alarm.text,
      /^\{"header":\{"cluster_id":"\d+","member_id":"\d+","revision":"\d+","raft_term":"\d+"\}\}$/,
    );
  }
  // Paths etcd 3.4's gateway does not have.
  const hashkv = await post(p.cairn, "/v3/maintenance/hashkv", `{}`);
  assert.equal(hashkv.status, 200);
  assert.match(hashkv.text, /^\{"header":\{[^}]*\},"hash":\d+,"compact_revision":"-?\d+"/);
  const authStatus = await post(p.cairn, "/v3/auth/status", `{}`);
  assert.equal(authStatus.status, 200, authStatus.text);
  assert.match(authStatus.text, /^\{"header":\{/);
  // The snapshot streams its chunks as results.
  const snap = GatewayStream.open(p.cairn, "/v3/maintenance/snapshot", `{}`);
  try {
    const lines = await snap.readToEnd();
    assert.equal(snap.status, 200);
    assert.ok(lines.length >= 1);
    let blob = 0;
    for (const line of lines) {
      const r = JSON.parse(line).result;
      blob += atob(r.blob).length;
    }
    assert.ok(blob > 32, "snapshot data and its sha256");
  } finally {
    snap.close();
  }
});

gatewayTest("gateway over HTTP/2 cleartext answers as over HTTP/1.1 (cairn)", async () => {
  const p = await pair();
  const body = `{"key":"${b64("a")}"}`;
  const h1 = await post(p.cairn, "/v3/kv/range", body);
  const session = http2.connect(p.cairn.clientUrl);
  session.on("error", () => {});
  try {
    const h2 = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/v3/kv/range",
        "content-type": "application/json",
      });
      let status = 0;
      let text = "";
      req.setEncoding("utf8");
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("data", (d: string) => (text += d));
      req.on("end", () => resolve({ status, text }));
      req.on("error", reject);
      req.end(body);
    });
    assert.equal(h2.status, 200);
    assert.equal(h2.text, h1.text);
  } finally {
    session.close();
  }
});

gatewayTest("gateway auth: Authorization header carries the token", async () => {
  await same("/v3/auth/user/add", `{"name":"root","password":"pw"}`);
  await same("/v3/auth/user/grant", `{"user":"root","role":"root"}`);
  await same("/v3/auth/user/add", `{"name":"u","password":"upw"}`);
  await same("/v3/auth/user/list", `{}`);
  await same("/v3/auth/authenticate", `{"name":"root","password":"pw"}`, { status: 400 });
  await same("/v3/auth/enable", `{}`);
  await same("/v3/auth/authenticate", `{"name":"root","password":"bad"}`, { status: 400 });
  const p = await pair();
  const token = async (m: Member, name: string, password: string) =>
    JSON.parse((await post(m, "/v3/auth/authenticate", JSON.stringify({ name, password }))).text)
      .token as string;
  const [rootE, rootC] = [await token(p.etcd, "root", "pw"), await token(p.cairn, "root", "pw")];
  const [userE, userC] = [await token(p.etcd, "u", "upw"), await token(p.cairn, "u", "upw")];
  assert.ok(rootC && userC);
  const both = async (path: string, body: string, te: string, tc: string) => {
    const e = etcd34To35(await post(p.etcd, path, body, { Authorization: te }));
    const c = await post(p.cairn, path, body, { Authorization: tc });
    assert.equal(c.status, e.status, `${path} ${c.text} / ${e.text}`);
    assert.equal(normalizeBody(c.text), normalizeBody(e.text), path);
  };
  await same("/v3/kv/range", `{"key":"${b64("a")}"}`);
  await both("/v3/kv/range", `{"key":"${b64("a")}"}`, rootE, rootC);
  await both("/v3/kv/range", `{"key":"${b64("a")}"}`, userE, userC);
  await both("/v3/kv/range", `{"key":"${b64("a")}"}`, "bogus", "bogus");
  await both("/v3/auth/disable", `{}`, rootE, rootC);
  await same("/v3/kv/range", `{"key":"${b64("a")}"}`);
});

Deno.test({
  name: "gateway hasleader: refused without a leader, and streams end when it is lost",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const etcd = await startCluster(2, ["--log-level=warn"], "etcd");
    const cairn = await startCluster(2, ["--log-level=warn"], "cairn").catch(async (err) => {
      await Promise.all(etcd.map((m) => m.destroy()));
      throw err;
    });
    const hasLeader = { "Grpc-Metadata-hasleader": "true" };
    try {
      // A watch that requires a leader, opened while there is one.
      const watches = await Promise.all(
        [etcd[0], cairn[0]].map((m) =>
          GatewayStream.open(m, "/v3/watch", `{"create_request":{"key":"${b64("k")}"}}`, hasLeader)
        ),
      );
      const created = await Promise.all(watches.map((w) => w.readLines(1)));
      assert.deepEqual(created[1].map(normalizeBody), created[0].map(normalizeBody));
      await Promise.all([etcd[1].kill(), cairn[1].kill()]);
      // Both lose their leader, and the watches end with a stream error.
      const ends = await Promise.all(watches.map((w) => w.readToEnd(30_000)));
      assert.deepEqual(ends[1].map(normalizeBody), ends[0].map(normalizeBody));
      assert.equal(
        ends[1].at(-1),
        '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}',
      );
      // New calls are refused: unary ones as unary errors, streams as stream errors.
      for (
        const [path, body, stream] of [
          ["/v3/kv/range", `{"key":"${b64("k")}"}`, false],
          ["/v3/watch", `{"create_request":{"key":"${b64("k")}"}}`, true],
          ["/v3/lease/keepalive", `{"ID":1}`, true],
        ] as const
      ) {
        const e = etcd34To35(await post(etcd[0], path, body, hasLeader), stream);
        const c = await post(cairn[0], path, body, hasLeader);
        assert.equal(c.status, 503, `${path}: ${c.text}`);
        assert.equal(c.status, e.status, path);
        assert.equal(c.text, e.text, path);
      }
    } finally {
      await Promise.all([...etcd, ...cairn].map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name: "teardown: stop the shared etcd and cairn",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (shared) await (await shared.catch(() => undefined))?.destroy();
  },
});
