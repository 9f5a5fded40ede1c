import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import { PAGE_SIZE } from "../bbolt/format.ts";
import { BoltReader } from "../bbolt/reader.ts";
import { MvccStore } from "../mvcc/store.ts";
import { putReq } from "../mvcc/test_helpers.ts";
import { etcdDatabase, snapshotChunks } from "./export.ts";
import { stateFromEtcd } from "./etcd_schema.ts";
import { databaseOf, hasSha256Trailer, snapshotDatabase, SnapshotIntegrityError } from "./file.ts";

async function streamOf(st: MvccStore, chunk: number) {
  const db = await etcdDatabase(
    st.pointInTime(),
    toBinary(StateSnapshotSchema, create(StateSnapshotSchema, {})),
    9n,
  );
  return { db, messages: [...snapshotChunks(db, chunk)] };
}

Deno.test("snapshot stream: database chunks count down remaining_bytes to 0, then the SHA-256 of the database", async () => {
  const st = new MvccStore();
  for (let i = 0; i < 2000; i++) st.put(putReq(`key/${i}`, `value ${i}`));
  const { db, messages } = await streamOf(st, 32 * 1024);
  const body = messages.slice(0, -1);
  const trailer = messages.at(-1)!;
  let sent = 0;
  for (const m of body) {
    assert.ok(m.blob.length <= 32 * 1024);
    sent += m.blob.length;
    assert.equal(m.remaining, db.size - sent);
  }
  assert.equal(sent, db.size);
  assert.equal(db.size % PAGE_SIZE, 0);
  assert.equal(trailer.remaining, 0);
  const all = new Uint8Array(sent + 32);
  let off = 0;
  for (const m of messages) {
    all.set(m.blob, off);
    off += m.blob.length;
  }
  assert.deepEqual(
    trailer.blob,
    new Uint8Array(createHash("sha256").update(all.subarray(0, sent)).digest()),
  );
  // The file etcdctl keeps: n x 4096 + 32, trailer verified, database readable.
  assert.ok(hasSha256Trailer(all.length));
  const bolt = new BoltReader(snapshotDatabase(all, false));
  assert.equal(bolt.size, db.size);
});

Deno.test("snapshot file: a wrong trailer or a missing one is refused unless the check is skipped", async () => {
  const st = new MvccStore();
  st.put(putReq("a", "1"));
  const { messages } = await streamOf(st, 4096);
  const file = new Uint8Array(messages.reduce((n, m) => n + m.blob.length, 0));
  let off = 0;
  for (const m of messages) {
    file.set(m.blob, off);
    off += m.blob.length;
  }
  const bad = file.slice();
  bad[100] ^= 1;
  assert.throws(() => snapshotDatabase(bad, false), (e: unknown) => {
    assert.ok(e instanceof SnapshotIntegrityError);
    assert.match(e.message, /^expected sha256 \[(\d+ ){31}\d+\], got \[(\d+ ){31}\d+\]$/);
    return true;
  });
  assert.equal(snapshotDatabase(bad, true).length, file.length - 32);
  const bare = file.subarray(0, file.length - 32);
  assert.throws(
    () => snapshotDatabase(bare, false),
    /^SnapshotIntegrityError: snapshot missing hash but --skip-hash-check=false$/,
  );
  assert.equal(snapshotDatabase(bare, true), bare);
  assert.equal(databaseOf(bare), bare);
  assert.equal(databaseOf(file).length, bare.length);
});

Deno.test("snapshot stream: the database is the store as captured, whatever is written or compacted while it is built", async () => {
  const st = new MvccStore();
  for (let i = 0; i < 20_000; i++) st.put(putReq(`key/${i % 5000}`, `value ${i}`));
  const view = st.pointInTime();
  const atCapture = st.hashKV(0);
  const rev = st.currentRevision;
  const building = etcdDatabase(
    view,
    toBinary(StateSnapshotSchema, create(StateSnapshotSchema, {})),
    1n,
  );
  // Other work runs between the slices: keep writing and compact meanwhile.
  let writes = 0;
  const writer = (async () => {
    for (let i = 0; i < 200; i++) {
      st.put(putReq(`key/${i}`, "later"));
      writes++;
      if (i === 100) st.compact(st.currentRevision - 10);
      await new Promise((r) => setTimeout(r, 0));
    }
  })();
  const db = await building;
  assert.ok(writes > 0, "writes were applied while the database was being built");
  await writer;
  const file = new Uint8Array(db.size);
  let off = 0;
  for (const m of snapshotChunks(db)) {
    if (off < db.size) file.set(m.blob, off);
    off += m.blob.length;
  }
  const back = MvccStore.restore(stateFromEtcd(new BoltReader(file)).state.mvcc);
  assert.equal(back.currentRevision, rev);
  assert.deepEqual(back.hashKV(0), atCapture);
});
