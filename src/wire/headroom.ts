/**
 * Buffers with free bytes around a message, so a larger message that
 * embeds it can be written in place instead of copied: a large put's Raft
 * entry (`InternalRequest{id, origin, put, auth}`) is built around the
 * `PutRequest` bytes exactly where the gRPC request body was received,
 * which saves one copy of the value (64 KiB puts were copied four times:
 * body, entry, WAL record, store).
 *
 * Only buffers made here qualify, and each can be claimed once: writing
 * before or after a view of a buffer someone else also reads (a
 * connection's read buffer) would corrupt it.
 *
 * @module
 */
import { PrefaultedBuffers } from "../process/prefault.ts";

/**
 * Messages at least this large are worth receiving with room: below it the
 * copy saved costs less than the view and the bookkeeping.
 */
export const ROOM_MIN = 4096;
/** Free bytes kept before the bytes {@link allocWithRoom} hands out. */
export const HEADROOM = 32;
/** Free bytes kept after them. */
export const TAILROOM = 96;

/**
 * Requests at least this large (with their room) are carved out of shared
 * slabs prepared off the JavaScript thread (src/process/prefault.ts says
 * why): a large put's body is kept as its Raft entry, so its memory is
 * always fresh, and faulting it in was most of what a 1 MiB put cost the
 * member. Smaller ones get a buffer of their own, as the allocator reuses
 * freed memory for them.
 */
export const SLAB_REGION_MIN = 32 * 1024;
/** Bytes per shared slab; a request larger than half of it gets a buffer of its own. */
export const SLAB_BYTES = 8 * 1024 * 1024;

/**
 * The regions of a buffer made here, in increasing order, and which of
 * them still have their room: a slab holds many requests, and claiming one
 * request's room must not let anyone write into its neighbours.
 */
interface Carving {
  starts: number[];
  ends: number[];
  claimed: boolean[];
}

const carvings = new WeakMap<ArrayBufferLike, Carving>();
const slabs = new PrefaultedBuffers(SLAB_BYTES);
/** The slab being carved, and the bytes of it handed out so far. */
let slab: ArrayBuffer | undefined;
let slabUsed = 0;

/**
 * `size` zeroed bytes with {@link HEADROOM} free bytes before them and
 * {@link TAILROOM} after, in a buffer of their own or a region of a
 * shared slab (never shared with anything but other regions made here).
 */
export function allocWithRoom(size: number): Uint8Array {
  const whole = HEADROOM + size + TAILROOM;
  if (whole < SLAB_REGION_MIN || whole > SLAB_BYTES / 2) {
    const buf = new ArrayBuffer(whole);
    carvings.set(buf, { starts: [0], ends: [whole], claimed: [false] });
    return new Uint8Array(buf, HEADROOM, size);
  }
  if (slab === undefined || slabUsed + whole > SLAB_BYTES) {
    slab = slabs.take();
    slabUsed = 0;
    carvings.set(slab, { starts: [], ends: [], claimed: [] });
  }
  const c = carvings.get(slab)!;
  const start = slabUsed;
  slabUsed += whole;
  c.starts.push(start);
  c.ends.push(slabUsed);
  c.claimed.push(false);
  return new Uint8Array(slab, start + HEADROOM, size);
}

/** Index of the unclaimed region of `c` that holds bytes [from, to), or -1. */
function regionOf(c: Carving, from: number, to: number): number {
  // The last region starting at or before `from` (regions are in order).
  let lo = 0, hi = c.starts.length - 1, at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (c.starts[mid] <= from) {
      at = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (at < 0 || c.claimed[at] || to > c.ends[at]) return -1;
  return at;
}

/** Whether `v` lies in a buffer or region from {@link allocWithRoom} not yet claimed. */
export function hasRoom(v: Uint8Array): boolean {
  const c = carvings.get(v.buffer);
  return c !== undefined && regionOf(c, v.byteOffset, v.byteOffset + v.length) >= 0;
}

/**
 * Claims the room around `v` (a view of a buffer or region from
 * {@link allocWithRoom}): returns the view of `before` bytes, `v` and
 * `after` bytes, for the caller to fill around `v`. Undefined when `v`
 * was not made here, its room was claimed already, or it has not that
 * much room. After a successful claim its region has no room left to
 * claim.
 */
export function claimRoom(v: Uint8Array, before: number, after: number): Uint8Array | undefined {
  const buf = v.buffer;
  const c = carvings.get(buf);
  if (c === undefined) return undefined;
  const start = v.byteOffset - before;
  const end = v.byteOffset + v.length + after;
  const at = regionOf(c, v.byteOffset, v.byteOffset + v.length);
  if (at < 0 || start < c.starts[at] || end > c.ends[at]) return undefined;
  c.claimed[at] = true;
  return new Uint8Array(buf, start, end - start);
}
