import assert from "node:assert/strict";
import { EntryType } from "../raft/types.ts";
import { crc32c } from "../wire/crc32c.ts";
import {
  encodeRecords,
  RecordType,
  scanSegment,
  WalCorruptError,
  type WalRecord,
} from "./record.ts";

const big = 2 ** 40 + 7;
const sample: WalRecord[] = [
  {
    type: RecordType.Metadata,
    metadata: { clusterId: 0xfedcba9876543210n, memberId: 1n, extra: new Uint8Array([9, 8]) },
  },
  {
    type: RecordType.Entry,
    entry: { term: 3, index: big, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) },
  },
  {
    type: RecordType.Entry,
    entry: { term: 4, index: big + 1, type: EntryType.Normal, data: new Uint8Array() },
  },
  { type: RecordType.HardState, hardState: { term: 4, vote: 0xffffffffffffffffn, commit: big } },
  { type: RecordType.Snapshot, snapshot: { term: 2, index: 2 ** 53 - 1 } },
];

Deno.test("record framing round-trips every record type", () => {
  const bytes = encodeRecords(sample);
  const scan = scanSegment("x.wal", bytes, false);
  assert.deepEqual(scan.records, sample);
  assert.equal(scan.end, bytes.length);
  assert.equal(scan.torn, undefined);
  // Header layout: length counts type + payload, type byte follows the crc.
  const v = new DataView(bytes.buffer);
  assert.equal(v.getUint32(0, true), 1 + 16 + 2);
  assert.equal(bytes[8], RecordType.Metadata);
});

Deno.test("zero-filled tail ends the data, in any segment", () => {
  const body = encodeRecords(sample);
  const bytes = new Uint8Array(body.length + 4096);
  bytes.set(body);
  for (const isLast of [false, true]) {
    const scan = scanSegment("x.wal", bytes, isLast);
    assert.equal(scan.records.length, sample.length);
    assert.equal(scan.end, body.length);
    assert.equal(scan.torn, undefined);
  }
});

Deno.test("a cut final record is torn in the last segment, corrupt elsewhere", () => {
  const bytes = encodeRecords(sample);
  const lastStart = bytes.length - 25; // the snapshot marker record is 25 bytes
  for (const cut of [1, 10, 20]) {
    const part = bytes.subarray(0, bytes.length - cut);
    const scan = scanSegment("x.wal", part, true);
    assert.equal(scan.records.length, sample.length - 1);
    assert.equal(scan.end, lastStart);
    assert.ok(scan.torn);
    assert.throws(() => scanSegment("x.wal", part, false), WalCorruptError);
  }
});

Deno.test("a bad crc followed by valid records is corruption even in the last segment", () => {
  const bytes = encodeRecords(sample);
  const secondStart = encodeRecords(sample.slice(0, 1)).length;
  bytes[secondStart + 12] ^= 0xff; // inside the entry's term
  assert.throws(
    () => scanSegment("/d/x.wal", bytes, true),
    (e: unknown) =>
      e instanceof WalCorruptError && e.offset === secondStart &&
      e.message.includes("/d/x.wal") && e.message.includes(`offset ${secondStart}`),
  );
});

Deno.test("a corrupted length pointing past the end is not mistaken for a torn tail", () => {
  const bytes = encodeRecords(sample);
  const secondStart = encodeRecords(sample.slice(0, 1)).length;
  new DataView(bytes.buffer).setUint32(secondStart, 1_000_000, true);
  assert.throws(() => scanSegment("x.wal", bytes, true), /valid records follow/);
});

Deno.test("a record with a good crc but unknown type is refused, even as the last record", () => {
  const bytes = encodeRecords([sample[4]]);
  bytes[8] = 77;
  // Re-seal the crc so only the type is wrong: this is a newer format, not a torn write.
  new DataView(bytes.buffer).setUint32(4, crc32c(bytes.subarray(8)), true);
  assert.throws(() => scanSegment("x.wal", bytes, true), /unknown record type 77/);
});
