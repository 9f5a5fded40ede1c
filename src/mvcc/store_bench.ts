/**
 * Micro-benchmarks of the store's hot paths on 100k keys:
 * `deno bench -A src/mvcc/store_bench.ts`.
 */
import { create } from "@bufbuild/protobuf";
import {
  type PutRequest,
  PutRequestSchema,
  type RangeRequest,
  RangeRequestSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "./store.ts";

const N = 100_000;
const enc = new TextEncoder();
const value = new Uint8Array(256).fill(0x61);
const puts: PutRequest[] = [];
const gets: RangeRequest[] = [];
for (let i = 0; i < N; i++) {
  const key = enc.encode(`/registry/pods/default/pod-${i.toString().padStart(6, "0")}`);
  puts.push(create(PutRequestSchema, { key, value }));
  gets.push(create(RangeRequestSchema, { key }));
}

const store = new MvccStore();
for (const p of puts) store.put(p);
// Keep history bounded across iterations, as a server compacting regularly would.
let i = 0;

Deno.bench("put (existing key, 100k keys)", { group: "put" }, () => {
  store.put(puts[(i++ * 7919) % N]);
  if (store.currentRevision % 200_000 === 0) store.compact(store.currentRevision - 1);
});

Deno.bench("put (new key into 100k keys)", { group: "put" }, () => {
  const key = enc.encode(`/registry/new/${i++}`);
  store.put(create(PutRequestSchema, { key, value }));
});

Deno.bench("range single key (100k keys)", { group: "range" }, () => {
  store.range(gets[(i++ * 7919) % N]);
});

Deno.bench("range prefix of 100 keys (100k keys)", { group: "range" }, () => {
  const start = (i++ * 7919) % (N - 100);
  store.range(
    create(RangeRequestSchema, { key: gets[start].key, rangeEnd: gets[start + 100].key }),
  );
});
