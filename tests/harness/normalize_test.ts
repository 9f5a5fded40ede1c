import assert from "node:assert/strict";
import { normalizeOutput, normalizeStderr } from "./normalize.ts";

Deno.test("normalizeOutput replaces ids, terms and versions but keeps revisions and data", () => {
  const etcd = '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,' +
    '"revision":2,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,' +
    '"version":1,"value":"YmFy","lease":7587868214583402250}],"count":1}';
  const cairn = '{"header":{"cluster_id":1,"member_id":99,"revision":2,"raft_term":7},' +
    '"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy",' +
    '"lease":42}],"count":1}';
  assert.equal(normalizeOutput(etcd), normalizeOutput(cairn));
  const otherRevision = cairn.replace('"revision":2', '"revision":3');
  assert.notEqual(normalizeOutput(etcd), normalizeOutput(otherRevision));
  assert.equal(
    normalizeOutput(otherRevision, { revisions: true }),
    normalizeOutput(etcd, {
      revisions: true,
    }),
  );
  assert.notEqual(normalizeOutput(etcd), normalizeOutput(etcd.replace("YmFy", "YmFz")));
});

Deno.test("normalizeOutput handles simple, fields and table status lines", () => {
  const opts = (client: number, peer: number) => ({ ports: { [client]: "C", [peer]: "P" } });
  assert.equal(
    normalizeOutput("127.0.0.1:23791, bdae9bbc11dd390d, 3.4.23, 25 kB, true, false, 2, 6, 6, ", {
      ports: { 23791: "C" },
    }),
    normalizeOutput("127.0.0.1:40000, 0123456789abcdef, 3.5.17, 4.1 MB, true, false, 3, 9, 9, ", {
      ports: { 40000: "C" },
    }),
  );
  assert.equal(
    normalizeOutput(
      "8e9e05c52164694d, started, n1, http://127.0.0.1:2, http://127.0.0.1:1, false",
      opts(1, 2),
    ),
    normalizeOutput(
      "00000000000000aa, started, n1, http://127.0.0.1:4, http://127.0.0.1:3, false",
      opts(3, 4),
    ),
  );
  assert.equal(
    normalizeOutput('"ClusterID" : 1\n"RaftTerm" : 2\n"Revision" : 5\n'),
    normalizeOutput('"ClusterID" : 9\n"RaftTerm" : 3\n"Revision" : 5\n'),
  );
  assert.equal(
    normalizeOutput(
      "| 127.0.0.1:1 | 8e9e05c52164694d |  3.4.23 |   25 kB |      true |      false |         2 |          5 |                  5 |        |",
      opts(1, 0),
    ),
    normalizeOutput(
      "| 127.0.0.1:7 | 00000000000000aa | 3.5.17 |  4 kB | true | false | 2 | 3 | 3 | |",
      opts(7, 0),
    ),
  );
});

Deno.test("normalizeStderr keeps the gRPC error but drops timestamps and client targets", () => {
  const line = (ts: string, target: string) =>
    `{"level":"warn","ts":"${ts}","caller":"clientv3/retry_interceptor.go:62",` +
    `"msg":"retrying of unary invoker failed","target":"${target}","attempt":0,` +
    `"error":"rpc error: code = OutOfRange desc = etcdserver: mvcc: required revision has been compacted"}\n` +
    "Error: etcdserver: mvcc: required revision has been compacted\n";
  const a = normalizeStderr(line("2026-11-22T06:18:51.333Z", "endpoint://client-a/127.0.0.1:1"));
  const b = normalizeStderr(line("2027-01-01T00:00:00.000Z", "endpoint://client-b/127.0.0.1:2"));
  assert.equal(a, b);
  assert.match(a, /code = OutOfRange/);
  assert.notEqual(a, normalizeStderr(line("x", "y").replace("OutOfRange", "Unknown")));
});
