/**
 * WAL record framing and payload codecs.
 *
 * A record is `[length u32 LE][crc32c u32 LE][type u8][payload]`, where
 * `length` counts the type byte plus the payload (so it is never 0) and the
 * CRC covers the same bytes. A zero length therefore marks the end of data
 * in a zero-filled (preallocated) segment tail.
 *
 * Payloads are fixed little-endian layouts; log positions are `number`
 * stored as u64, ids are `bigint` stored as u64:
 * - metadata:   cluster id u64, member id u64, free-form bytes (rest)
 * - entry:      term u64, index u64, entry type u8, data (rest)
 * - hard state: term u64, vote u64, commit u64
 * - snapshot:   term u64, index u64
 * - link:       previous segment's seq u64, end offset u64, chain u32
 *
 * Records are checksummed one by one, so a whole record lost from the end
 * of an older segment (a zeroed tail reads as the normal end of a
 * preallocated file) would otherwise replay silently. Every segment after
 * the first therefore starts with a link record naming where the previous
 * segment ended and a digest of its record CRCs in order (the "chain", see
 * {@link foldRecordCrcs}); replay compares both, as etcd's WAL carries its
 * rolling CRC from one file to the next. Segments written before links
 * existed have none and are read as before.
 *
 * @module
 */
import type { Entry, EntryType, HardState } from "../raft/types.ts";
import { crc32cRange } from "../wire/crc32c.ts";

/** Bytes before the type byte: length + crc. */
export const RECORD_HEADER = 8;
/** Upper bound on one record (type + payload): anything larger is corruption. */
export const MAX_RECORD_LENGTH = 512 * 1024 * 1024;

/** Kinds of WAL record (the `type` byte). */
export enum RecordType {
  Metadata = 1,
  Entry = 2,
  HardState = 3,
  Snapshot = 4,
  /** Where the previous segment ended and its chain: see the module comment. */
  Link = 5,
}

/** Identity of the member that owns a WAL, written at the head of every segment. */
export interface WalMetadata {
  clusterId: bigint;
  memberId: bigint;
  /** Free-form bytes for the server (e.g. an encoded bootstrap config). */
  extra: Uint8Array;
}

/** A snapshot marker: the WAL's note that a snapshot up to `index` exists. */
export interface SnapshotMarker {
  term: number;
  index: number;
}

/** A segment's note of how the segment before it ended. */
export interface SegmentLink {
  /** The previous segment's sequence number. */
  prevSeq: number;
  /** Byte offset just past the previous segment's last record. */
  prevEnd: number;
  /** {@link foldRecordCrcs} over every record of the previous segment. */
  prevChain: number;
}

/** The chain of a segment with no records yet. */
export const CHAIN_START = 0x811c9dc5;

/**
 * Folds the stored CRCs of the records framed in `bytes` (whole records,
 * back to back) into `chain`, in order. Order-dependent, and cheap: one
 * step per record, no second pass over the payloads.
 */
export function foldRecordCrcs(chain: number, bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h = chain;
  for (let off = 0; off + RECORD_HEADER <= bytes.length;) {
    h = foldCrc(h, view.getUint32(off + 4, true));
    off += RECORD_HEADER + view.getUint32(off, true);
  }
  return h;
}

/** One step of {@link foldRecordCrcs}: folds a record's stored CRC into `chain`. */
export function foldCrc(chain: number, crc: number): number {
  return Math.imul(chain ^ crc, 0x01000193) >>> 0;
}

/** One decoded record. */
export type WalRecord =
  | { type: RecordType.Metadata; metadata: WalMetadata }
  | { type: RecordType.Entry; entry: Entry }
  | { type: RecordType.HardState; hardState: HardState }
  | { type: RecordType.Snapshot; snapshot: SnapshotMarker }
  | { type: RecordType.Link; link: SegmentLink };

/** A WAL file is damaged somewhere other than a torn final write. */
export class WalCorruptError extends Error {
  /** Names the file and byte offset so an operator can inspect it. */
  constructor(readonly path: string, readonly offset: number, reason: string) {
    super(`WAL corrupt: ${path} at byte offset ${offset}: ${reason}`);
    this.name = "WalCorruptError";
  }
}

const TWO32 = 4294967296;
const ENTRY_FIXED = 17;
const HARD_STATE_LEN = 24;
const SNAPSHOT_LEN = 16;
const METADATA_FIXED = 16;
const LINK_LEN = 20;

/** Bytes a record takes on disk, header included. */
export function recordSize(rec: WalRecord): number {
  switch (rec.type) {
    case RecordType.Entry:
      return entryRecordSize(rec.entry);
    case RecordType.HardState:
      return RECORD_HEADER + 1 + HARD_STATE_LEN;
    case RecordType.Snapshot:
      return RECORD_HEADER + 1 + SNAPSHOT_LEN;
    case RecordType.Metadata:
      return RECORD_HEADER + 1 + METADATA_FIXED + rec.metadata.extra.length;
    case RecordType.Link:
      return RECORD_HEADER + 1 + LINK_LEN;
  }
}

/** Bytes an entry record takes on disk (the hot path avoids wrapping entries). */
export function entryRecordSize(e: Entry): number {
  return RECORD_HEADER + 1 + ENTRY_FIXED + e.data.length;
}

/** Bytes a hard state record takes on disk. */
export const HARD_STATE_RECORD_SIZE = RECORD_HEADER + 1 + HARD_STATE_LEN;

/**
 * Fills one preallocated buffer with records, so a whole save goes to the
 * disk in a single write. The caller sizes the buffer exactly.
 */
export class RecordWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  /**
   * A writer over `size` bytes: the front of `scratch` when it is large
   * enough (the caller's reused buffer, free once the bytes are written),
   * else a fresh buffer.
   */
  constructor(size: number, scratch?: Uint8Array) {
    this.bytes = scratch !== undefined && scratch.length >= size
      ? scratch.subarray(0, size)
      : new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, size);
  }

  /** Appends any record. */
  record(rec: WalRecord): void {
    switch (rec.type) {
      case RecordType.Entry:
        return this.entry(rec.entry);
      case RecordType.HardState:
        return this.hardState(rec.hardState);
      case RecordType.Snapshot:
        return this.snapshot(rec.snapshot);
      case RecordType.Metadata:
        return this.metadata(rec.metadata);
      case RecordType.Link:
        return this.link(rec.link);
    }
  }

  /** Appends an entry record. */
  entry(e: Entry): void {
    const start = this.begin(RecordType.Entry);
    this.u64(e.term);
    this.u64(e.index);
    this.bytes[this.pos++] = e.type;
    this.bytes.set(e.data, this.pos);
    this.pos += e.data.length;
    this.end(start);
  }

  /** Appends a hard state record. */
  hardState(hs: HardState): void {
    const start = this.begin(RecordType.HardState);
    this.u64(hs.term);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, hs.vote), true);
    this.pos += 8;
    this.u64(hs.commit);
    this.end(start);
  }

  /** Appends a snapshot marker record. */
  snapshot(m: SnapshotMarker): void {
    const start = this.begin(RecordType.Snapshot);
    this.u64(m.term);
    this.u64(m.index);
    this.end(start);
  }

  /** Appends a metadata record. */
  metadata(m: WalMetadata): void {
    const start = this.begin(RecordType.Metadata);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, m.clusterId), true);
    this.view.setBigUint64(this.pos + 8, BigInt.asUintN(64, m.memberId), true);
    this.pos += 16;
    this.bytes.set(m.extra, this.pos);
    this.pos += m.extra.length;
    this.end(start);
  }

  /** Appends a segment link record. */
  link(l: SegmentLink): void {
    const start = this.begin(RecordType.Link);
    this.u64(l.prevSeq);
    this.u64(l.prevEnd);
    this.view.setUint32(this.pos, l.prevChain, true);
    this.pos += 4;
    this.end(start);
  }

  /** The filled bytes; throws if the caller mis-sized the buffer. */
  finish(): Uint8Array {
    if (this.pos !== this.bytes.length) {
      throw new Error(`RecordWriter: wrote ${this.pos} of ${this.bytes.length} bytes`);
    }
    return this.bytes;
  }

  private begin(type: RecordType): number {
    const start = this.pos;
    this.bytes[start + RECORD_HEADER] = type;
    this.pos = start + RECORD_HEADER + 1;
    return start;
  }

  private end(start: number): void {
    this.view.setUint32(start, this.pos - start - RECORD_HEADER, true);
    this.view.setUint32(start + 4, crc32cRange(this.bytes, start + RECORD_HEADER, this.pos), true);
  }

  private u64(n: number): void {
    // Log positions are safe integers; split instead of going through BigInt.
    this.view.setUint32(this.pos, n >>> 0, true);
    this.view.setUint32(this.pos + 4, Math.floor(n / TWO32), true);
    this.pos += 8;
  }
}

/** Encodes records into one buffer. */
export function encodeRecords(records: WalRecord[]): Uint8Array {
  let size = 0;
  for (const r of records) size += recordSize(r);
  const w = new RecordWriter(size);
  for (const r of records) w.record(r);
  return w.finish();
}

/** Result of scanning one segment file's bytes. */
export interface SegmentScan {
  records: WalRecord[];
  /** Byte offset of each record, parallel to `records`. */
  offsets: number[];
  /** Offset just past the last good record: where appends continue. */
  end: number;
  /** Set when a torn final write was found (only in the last segment). */
  torn?: { offset: number; reason: string };
  /** {@link foldRecordCrcs} over the records kept (up to `end`). */
  chain: number;
}

/**
 * Decodes every record of a segment. A bad record (bad CRC, impossible
 * length, partial header) is a torn tail only when `isLast` and nothing
 * valid follows it; otherwise it throws {@link WalCorruptError}. A zero
 * length followed only by zeros is the normal end of a preallocated file.
 */
export function scanSegment(path: string, bytes: Uint8Array, isLast: boolean): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: WalRecord[] = [];
  const offsets: number[] = [];
  const n = bytes.length;
  let off = 0;
  let chain = CHAIN_START;
  const bad = (reason: string): SegmentScan => {
    if (!isLast) throw new WalCorruptError(path, off, reason);
    if (validRecordAfter(bytes, view, off + 1)) {
      throw new WalCorruptError(path, off, `${reason}, and valid records follow it`);
    }
    return { records, offsets, end: off, torn: { offset: off, reason }, chain };
  };
  while (off < n) {
    if (n - off < RECORD_HEADER + 1) {
      if (allZero(bytes, off)) break;
      return bad(`partial record header (${n - off} bytes left)`);
    }
    const len = view.getUint32(off, true);
    if (len === 0) {
      if (allZero(bytes, off)) break;
      return bad("zero-length record followed by non-zero bytes");
    }
    if (len > MAX_RECORD_LENGTH || off + RECORD_HEADER + len > n) {
      return bad(`record length ${len} runs past the end of the file (${n} bytes)`);
    }
    const want = view.getUint32(off + 4, true);
    const got = crc32cRange(bytes, off + RECORD_HEADER, off + RECORD_HEADER + len);
    if (got !== want) {
      return bad(`crc mismatch (stored ${hex32(want)}, computed ${hex32(got)})`);
    }
    // From here the bytes are exactly what was written: a malformed payload
    // is a bug or a newer format, never a torn write.
    records.push(
      decodeBody(path, off, bytes.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len)),
    );
    offsets.push(off);
    chain = foldCrc(chain, want);
    off += RECORD_HEADER + len;
  }
  return { records, offsets, end: off, chain };
}

function decodeBody(path: string, off: number, body: Uint8Array): WalRecord {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const type = body[0];
  checkPayload(path, off, type, body.length - 1);
  const u64 = (at: number): number => logPosition(v, at, path, off);
  switch (type) {
    case RecordType.Entry: {
      const entry: Entry = {
        term: u64(1),
        index: u64(9),
        type: body[17] as EntryType,
        data: body.subarray(ENTRY_DATA),
      };
      return { type, entry };
    }
    case RecordType.HardState:
      return {
        type,
        hardState: { term: u64(1), vote: v.getBigUint64(9, true), commit: u64(17) },
      };
    case RecordType.Snapshot:
      return { type, snapshot: { term: u64(1), index: u64(9) } };
    case RecordType.Link:
      return {
        type,
        link: { prevSeq: u64(1), prevEnd: u64(9), prevChain: v.getUint32(17, true) },
      };
    default:
      return { type: RecordType.Metadata, metadata: decodeMetadata(body) };
  }
}

/** Where an entry record's data starts, counted from its type byte. */
export const ENTRY_DATA = 1 + ENTRY_FIXED;

/** A metadata record's payload (`body` starts at its type byte); `extra` is a copy. */
export function decodeMetadata(body: Uint8Array): WalMetadata {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return {
    clusterId: v.getBigUint64(1, true),
    memberId: v.getBigUint64(9, true),
    extra: body.slice(1 + METADATA_FIXED),
  };
}

/**
 * Throws {@link WalCorruptError} unless `type` is a known record type whose
 * payload may be `plen` bytes long. The record passed its CRC, so a
 * malformed payload is a bug or a newer format, never a torn write.
 */
export function checkPayload(path: string, off: number, type: number, plen: number): void {
  const fail = (why: string) => new WalCorruptError(path, off, why);
  switch (type) {
    case RecordType.Entry:
      if (plen < ENTRY_FIXED) throw fail(`entry payload too short (${plen} bytes)`);
      return;
    case RecordType.HardState:
      if (plen !== HARD_STATE_LEN) throw fail(`hard state payload is ${plen} bytes`);
      return;
    case RecordType.Snapshot:
      if (plen !== SNAPSHOT_LEN) throw fail(`snapshot marker payload is ${plen} bytes`);
      return;
    case RecordType.Metadata:
      if (plen < METADATA_FIXED) throw fail(`metadata payload too short (${plen} bytes)`);
      return;
    case RecordType.Link:
      if (plen !== LINK_LEN) throw fail(`segment link payload is ${plen} bytes`);
      return;
    default:
      throw fail(`unknown record type ${type} (written by a newer cairn?)`);
  }
}

/** The u64 log position at `at` (little-endian); one beyond 2^53 is corruption. */
export function logPosition(v: DataView, at: number, path: string, off: number): number {
  const hi = v.getUint32(at + 4, true);
  if (hi >= 1 << 21) throw new WalCorruptError(path, off, "log position beyond 2^53");
  return hi * TWO32 + v.getUint32(at, true);
}

/** Budget of bytes checksummed while looking for valid data after a bad record. */
const SEARCH_CRC_BUDGET = 256 * 1024 * 1024;

/**
 * True when a record with a valid CRC starts anywhere at or after `from`.
 * That is what separates a corrupted record in the middle of the last
 * segment from a torn final write. If the search gets too expensive it
 * answers true: refusing to start beats silently cutting acknowledged data.
 */
export function validRecordAfter(bytes: Uint8Array, view: DataView, from: number): boolean {
  let budget = SEARCH_CRC_BUDGET;
  const last = bytes.length - RECORD_HEADER - 1;
  for (let p = from; p <= last; p++) {
    const len = view.getUint32(p, true);
    if (len === 0 || len > MAX_RECORD_LENGTH || p + RECORD_HEADER + len > bytes.length) continue;
    const type = bytes[p + RECORD_HEADER];
    if (type < RecordType.Metadata || type > RecordType.Link) continue;
    budget -= len;
    if (budget < 0) return true;
    const crc = crc32cRange(bytes, p + RECORD_HEADER, p + RECORD_HEADER + len);
    if (crc === view.getUint32(p + 4, true)) return true;
  }
  return false;
}

/**
 * True when every byte from `from` on is zero. A preallocated segment ends
 * in up to 64 MiB of them, read on every start: the aligned middle is
 * checked four bytes at a time.
 */
export function allZero(bytes: Uint8Array, from: number): boolean {
  let i = from;
  const n = bytes.length;
  for (; i < n && (bytes.byteOffset + i) % 4 !== 0; i++) if (bytes[i] !== 0) return false;
  const words = Math.floor((n - i) / 4);
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let k = 0; k < words; k++) if (w[k] !== 0) return false;
    i += words * 4;
  }
  for (; i < n; i++) if (bytes[i] !== 0) return false;
  return true;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
