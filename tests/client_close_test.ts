/**
 * Clients that close their HTTP/2 connection (GOAWAY, then FIN) or drop it
 * after many concurrent calls. Deno 2.9's node:http2 server aborted the
 * process on such a GOAWAY (every variant here killed the member within
 * three rounds); cairn's own HTTP/2 server (src/http/h2) now serves both
 * ports, and this keeps it honest.
 */
import assert from "node:assert/strict";
import { GrpcClient } from "./harness/grpc.ts";
import { Member, sleep } from "./harness/member.ts";

async function rounds(m: Member, how: "close" | "destroy", op: "put" | "range"): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const client = new GrpcClient(m.clientUrl);
    for (let i = 0; i < 1000; i += 50) {
      const calls = [];
      for (let j = i; j < i + 50; j++) {
        calls.push(op === "put" ? client.put(`close/${j}`, `v${j}`) : client.range(`close/${j}`));
      }
      await Promise.all(calls);
    }
    if (how === "close") await client.close();
    else client.destroy();
    await sleep(300);
    assert.ok(m.running, `member died after ${how} (${op}), round ${round}`);
  }
}

Deno.test({
  name:
    "client close: GOAWAY or a dropped connection after many concurrent calls leaves the member up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.start({ kind: "cairn" });
    try {
      await rounds(m, "close", "put");
      await rounds(m, "close", "range");
      await rounds(m, "destroy", "put");
      // Still serving on a fresh connection.
      const client = new GrpcClient(m.clientUrl);
      const res = await client.range("close/999");
      assert.equal(res.kvs.length, 1);
      await client.close();
    } finally {
      await m.destroy();
    }
  },
});
