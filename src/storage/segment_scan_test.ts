import assert from "node:assert/strict";
import { join } from "node:path";
import { EntryType } from "../raft/types.ts";
import { REAL_DISK } from "./disk.ts";
import {
  encodeRecords,
  RecordType,
  scanSegment,
  WalCorruptError,
  type WalRecord,
} from "./record.ts";
import { scanSegmentFile, ScanWindow } from "./segment_scan.ts";

function records(n: number): WalRecord[] {
  const out: WalRecord[] = [{
    type: RecordType.Metadata,
    metadata: { clusterId: 1n, memberId: 2n, extra: new Uint8Array(3) },
  }];
  for (let i = 1; i <= n; i++) {
    // Sizes from empty to several times the window, so records straddle it.
    const data = new Uint8Array((i * 53) % 400).fill(i);
    out.push({
      type: RecordType.Entry,
      entry: { term: 1, index: i, type: EntryType.Normal, data },
    });
    if (i % 7 === 0) {
      out.push({ type: RecordType.HardState, hardState: { term: 1, vote: 2n, commit: i } });
    }
  }
  return out;
}

/** Scans `bytes` as a file through a window of `win` bytes; what was visited and the result. */
async function scanFile(bytes: Uint8Array, isLast: boolean, win: number) {
  const dir = await Deno.makeTempDir({ prefix: "cairn-scan-" });
  try {
    const path = join(dir, "x.wal");
    await Deno.writeFile(path, bytes);
    const offsets: number[] = [];
    const types: number[] = [];
    const scan = await scanSegmentFile(
      REAL_DISK,
      path,
      isLast,
      new ScanWindow(win),
      (type, buf, _v, at, len, off) => {
        // The record's bytes as the window holds them are the file's.
        assert.deepEqual(buf.subarray(at, at + 8 + len), bytes.subarray(off, off + 8 + len));
        offsets.push(off);
        types.push(type);
      },
    );
    return { scan, offsets, types, path };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a file scanned through a small window visits what a whole-buffer scan decodes", async () => {
  const bytes = encodeRecords(records(60));
  const whole = scanSegment("x.wal", bytes, false);
  for (const win of [16, 100, 512, 1 << 20]) {
    const { scan, offsets, types } = await scanFile(bytes, false, win);
    assert.deepEqual(offsets, whole.offsets, `window ${win}`);
    assert.deepEqual(types, whole.records.map((r) => r.type));
    assert.equal(scan.end, whole.end);
    assert.equal(scan.chain, whole.chain);
    assert.equal(scan.size, bytes.length);
    assert.equal(scan.records, whole.records.length);
  }
});

Deno.test("a zero-filled tail ends the records; a torn one is cut in the last file only", async () => {
  const recs = encodeRecords(records(20));
  const padded = new Uint8Array(recs.length + 5000);
  padded.set(recs);
  const z = await scanFile(padded, false, 64);
  assert.equal(z.scan.end, recs.length);
  assert.equal(z.scan.size, padded.length);
  assert.equal(z.scan.torn, undefined);

  const cut = padded.slice(0, recs.length - 5); // the final record loses its end
  const whole = scanSegment("x.wal", cut, true);
  const t = await scanFile(cut, true, 64);
  assert.equal(t.scan.end, whole.end);
  assert.equal(t.scan.torn?.reason, whole.torn?.reason);
  assert.equal(t.scan.torn?.nonZeroEnd, cut.length);
  await assert.rejects(() => scanFile(cut, false, 64), WalCorruptError);

  // Non-zero bytes after a zero length are damage, not the end.
  const dirty = padded.slice();
  dirty[dirty.length - 10] = 1;
  const d = await scanFile(dirty, true, 64);
  assert.match(d.scan.torn?.reason ?? "", /zero-length record followed by non-zero bytes/);
  assert.equal(d.scan.torn?.nonZeroEnd, dirty.length - 9);
});

Deno.test("a bad CRC with valid records after it is corruption even in the last file", async () => {
  const bytes = encodeRecords(records(30));
  const whole = scanSegment("x.wal", bytes, false);
  const at = whole.offsets[10];
  bytes[at + 12] ^= 0x40;
  await assert.rejects(
    () => scanFile(bytes, true, 128),
    (e: unknown) =>
      e instanceof WalCorruptError && e.offset === at &&
      /crc mismatch.*valid records follow/.test(e.message),
  );
});
