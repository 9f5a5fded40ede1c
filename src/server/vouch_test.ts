import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { MemberRecordSchema } from "../gen/cairn/internal_pb.ts";
import { createLogger } from "../log.ts";
import type { PeerReply } from "../transport/peer_client.ts";
import { publishMembership } from "./join.ts";
import { Vouching } from "./vouch.ts";

const CLUSTER = 0xabcn;
const member = (id: bigint) =>
  create(MemberRecordSchema, { id, name: `m${id}`, peerUrls: [`http://peer-${id}`] });

/** A Vouching whose peers answer `GET /members` with `listed` (of `cluster`), on a manual clock. */
function setup(listed: bigint[], cluster = CLUSTER) {
  let now = 1_000_000;
  const asked: string[] = [];
  const admitted: [bigint, string[]][] = [];
  const v = new Vouching({
    selfId: 1n,
    clusterId: CLUSTER,
    log: createLogger("error"),
    peers: () => [member(1n), member(2n), member(3n)],
    get: (url): Promise<PeerReply> => {
      asked.push(url);
      // The first peer is down: the lookup moves on to the next.
      if (url === "http://peer-2") return Promise.reject(new Error("connection refused"));
      const body = JSON.stringify(publishMembership(cluster, listed.map(member)));
      return Promise.resolve({ status: 200, body: new TextEncoder().encode(body) });
    },
    onAdmit: (id, urls) => admitted.push([id, urls]),
    timeoutMs: 100,
    now: () => now,
  });
  return { v, asked, admitted, advance: (ms: number) => (now += ms) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("vouching: a sender another member lists is admitted, a stranger is not", async () => {
  const { v, asked, admitted } = setup([1n, 2n, 3n, 4n]);
  assert.equal(v.has(4n), false);
  v.ask(4n);
  v.ask(99n);
  await settle();
  assert.deepEqual(asked, ["http://peer-2", "http://peer-3"], "self is never asked");
  assert.equal(v.has(4n), true);
  assert.equal(v.has(99n), false);
  assert.deepEqual(admitted, [[4n, ["http://peer-4"]]], "its answers can reach it");
  v.forget(4n);
  assert.equal(v.has(4n), false);
});

Deno.test("vouching: a listing from another cluster admits nobody", async () => {
  const { v } = setup([4n], 0xdefn);
  v.ask(4n);
  await settle();
  assert.equal(v.has(4n), false);
});

Deno.test("vouching: lookups are rate-limited however many ids a stranger tries; admissions expire", async () => {
  const { v, asked, advance } = setup([1n, 2n, 3n, 4n]);
  for (let i = 0; i < 500; i++) v.ask(1000n + BigInt(i));
  await settle();
  assert.equal(asked.length, 2, "one lookup round");
  for (let i = 0; i < 500; i++) v.ask(2000n + BigInt(i));
  v.ask(4n); // answered from the last listing
  await settle();
  assert.equal(asked.length, 2, "still one round within the interval");
  assert.equal(v.has(4n), true);
  advance(1001);
  v.ask(5000n);
  await settle();
  assert.equal(asked.length, 4, "a new round after the interval");
  advance(61_000);
  assert.equal(v.has(4n), false, "an admission lapses");
});
