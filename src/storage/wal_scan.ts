/**
 * Reading a run of WAL segments at open: every record's CRC and framing
 * (segment_scan.ts), the links between segments, one metadata for all,
 * and entries kept as columns (replay.ts). Both a WAL opening on the main
 * thread and the check of its older segments on another thread
 * (off_thread_check.ts) read through here, so both refuse exactly the same
 * damage.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { Disk } from "./disk.ts";
import {
  CHAIN_START,
  checkPayload,
  decodeMetadata,
  ENTRY_DATA,
  logPosition,
  RECORD_HEADER,
  RecordType,
  type SegmentLink,
  WalCorruptError,
  type WalMetadata,
} from "./record.ts";
import { ReplayLog } from "./replay.ts";
import { scanSegmentFile, ScanWindow } from "./segment_scan.ts";

/** A segment file's name, parsed. */
export interface SegmentName {
  seq: number;
  firstIndex: number;
  name: string;
}

/** A segment of an open WAL. */
export interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
  /** Highest entry index written in this segment (0 if none). */
  maxIndex: number;
  /**
   * No longer needed for recovery: every entry in it is covered by a
   * snapshot (etcd's ReleaseLockTo unlocks such files). Only released
   * segments may be purged.
   */
  released: boolean;
}

/** What reading segments `from`..`to` found. */
export interface SegmentsScan {
  /** The segments read, in order. */
  segments: Segment[];
  /** The first segment's metadata (all of them hold the same). */
  metadata: WalMetadata | undefined;
  /** The last hard state record read, its vote in two 32-bit halves. */
  hardState: { term: number; voteLo: number; voteHi: number; commit: number };
  /** Entry positions and snapshot markers, in the order read. */
  log: ReplayLog;
  /** Where the last segment's good records end, and their chain. */
  end: number;
  chain: number;
  /** How the segment before the last one ended (to relink a lost header). */
  prevScan: { prevEnd: number; prevChain: number } | undefined;
  /** The last segment's file size, and where its non-zero bytes end if torn. */
  lastSize: number;
  tornEnd: number;
  truncatedTail: { path: string; offset: number; droppedBytes: number; reason: string } | undefined;
}

/**
 * Reads segments `names[from..to)` of the WAL in `dir`. The link of
 * segment `from` to the one before it, and the continuity of their
 * indexes, are not checked here: a caller starting past the first segment
 * has them checked by a read of `names[0..from]` (see off_thread_check.ts).
 * `ReplayLog` seg numbers are positions in `names`. `keepEntries` false:
 * a check only, whose log records no entry.
 */
export async function scanSegments(
  disk: Disk,
  dir: string,
  names: SegmentName[],
  from = 0,
  to = names.length,
  keepEntries = true,
): Promise<SegmentsScan> {
  const segments: Segment[] = [];
  const log = new ReplayLog();
  const win = new ScanWindow();
  const hs = { term: 0, voteLo: 0, voteHi: 0, commit: 0 };
  let metadata: WalMetadata | undefined;
  let truncatedTail: SegmentsScan["truncatedTail"];
  let end = 0;
  let chain = CHAIN_START;
  let prevScan: SegmentsScan["prevScan"];
  // The log's last index as the writer saw it (an entry sets it, a snapshot
  // marker may raise it): a segment rolls over to one named after it + 1.
  let writerLast = -1;
  let lastSize = 0;
  let tornEnd = 0;
  for (let i = from; i < to; i++) {
    const { seq, firstIndex, name } = names[i];
    const path = join(dir, name);
    const later = i > from;
    if (i > 0 && seq !== names[i - 1].seq + 1) {
      throw new WalCorruptError(
        path,
        0,
        `segment sequence gap: expected seq ${names[i - 1].seq + 1}`,
      );
    }
    // Records are checksummed one by one, so an older segment cut exactly
    // at a record boundary reads cleanly: the next segment's name shows
    // that entries are missing from its end (found by the WAL fuzzer).
    if (later && writerLast >= 0 && writerLast < firstIndex - 1) {
      const prev = segments[segments.length - 1];
      throw new WalCorruptError(
        prev.path,
        end,
        `segment ends at index ${writerLast} but the next one starts at ${firstIndex}: ` +
          `records are missing from its end`,
      );
    }
    const isLast = i === names.length - 1;
    let maxIndex = 0;
    let link: SegmentLink | undefined;
    let count = 0;
    const scan = await scanSegmentFile(disk, path, isLast, win, (type, buf, v, at, len, off) => {
      const body = at + RECORD_HEADER;
      if (count++ === 0 && type !== RecordType.Metadata) {
        throw new WalCorruptError(path, 0, "segment does not start with a metadata record");
      }
      checkPayload(path, off, type, len - 1);
      switch (type) {
        case RecordType.Entry: {
          const index = logPosition(v, body + 9, path, off);
          const term = logPosition(v, body + 1, path, off);
          if (keepEntries) {
            const dataAt = RECORD_HEADER + ENTRY_DATA;
            log.entry(term, index, buf[body + 17], i, off + dataAt, len - ENTRY_DATA, path, off);
          }
          if (index > maxIndex) maxIndex = index;
          writerLast = index;
          return;
        }
        case RecordType.HardState:
          hs.term = logPosition(v, body + 1, path, off);
          hs.voteLo = v.getUint32(body + 9, true);
          hs.voteHi = v.getUint32(body + 13, true);
          hs.commit = logPosition(v, body + 17, path, off);
          return;
        case RecordType.Snapshot: {
          const index = logPosition(v, body + 9, path, off);
          log.snapshotMarker(logPosition(v, body + 1, path, off), index);
          writerLast = Math.max(writerLast, index);
          return;
        }
        case RecordType.Metadata: {
          if (count !== 1) return; // only a segment's head counts, as before
          const m = decodeMetadata(buf.subarray(body, body + len));
          if (metadata === undefined) metadata = m;
          else if (!sameMetadata(metadata, m)) {
            throw new WalCorruptError(path, 0, "metadata differs from the first segment's");
          }
          return;
        }
        case RecordType.Link:
          link ??= {
            prevSeq: logPosition(v, body + 1, path, off),
            prevEnd: logPosition(v, body + 9, path, off),
            prevChain: v.getUint32(body + 17, true),
          };
      }
    });
    if (scan.records === 0 && !isLast) {
      throw new WalCorruptError(path, 0, "segment holds no records");
    }
    if (later && link) checkLink(link, segments[segments.length - 1], end, chain, path);
    segments.push({ seq, firstIndex, path, maxIndex, released: false });
    if (later) prevScan = { prevEnd: end, prevChain: chain };
    end = scan.end;
    chain = scan.chain;
    lastSize = scan.size;
    if (scan.torn) {
      tornEnd = scan.torn.nonZeroEnd;
      truncatedTail = {
        path,
        offset: scan.end,
        droppedBytes: tornEnd - scan.end,
        reason: scan.torn.reason,
      };
    }
  }
  return {
    segments,
    metadata,
    hardState: hs,
    log,
    end,
    chain,
    prevScan,
    lastSize,
    tornEnd,
    truncatedTail,
  };
}

/**
 * Checks a segment's (first) link record against how the segment before
 * it was read: a mismatch means records went missing from (or were
 * altered at) the end of the older segment although each one left reads
 * cleanly. A segment without a link was written before links existed.
 */
function checkLink(
  link: SegmentLink,
  prev: Segment,
  prevEnd: number,
  prevChain: number,
  path: string,
): void {
  if (link.prevSeq !== prev.seq) {
    throw new WalCorruptError(
      path,
      0,
      `segment links to seq ${link.prevSeq} but follows seq ${prev.seq}`,
    );
  }
  if (link.prevEnd !== prevEnd) {
    throw new WalCorruptError(
      prev.path,
      prevEnd,
      `segment reads up to byte ${prevEnd} but ended at byte ${link.prevEnd} when ` +
        `${basename(path)} was made: records are missing from its end`,
    );
  }
  if (link.prevChain !== prevChain) {
    throw new WalCorruptError(
      prev.path,
      0,
      `records differ from those written (chain ${hex8(prevChain)}, ` +
        `${basename(path)} recorded ${hex8(link.prevChain)})`,
    );
  }
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function sameMetadata(a: WalMetadata, b: WalMetadata): boolean {
  return a.clusterId === b.clusterId && a.memberId === b.memberId &&
    a.extra.length === b.extra.length && a.extra.every((x, i) => x === b.extra[i]);
}
