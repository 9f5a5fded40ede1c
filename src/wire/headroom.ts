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

/**
 * Messages at least this large are worth receiving with room: below it the
 * copy saved costs less than the view and the bookkeeping.
 */
export const ROOM_MIN = 4096;
/** Free bytes kept before the bytes {@link allocWithRoom} hands out. */
export const HEADROOM = 32;
/** Free bytes kept after them. */
export const TAILROOM = 96;

/** Buffers made by {@link allocWithRoom} whose room is not yet claimed. */
const unclaimed = new WeakSet<ArrayBufferLike>();

/**
 * `size` zeroed bytes in a buffer of their own, with {@link HEADROOM} free
 * bytes before them and {@link TAILROOM} after.
 */
export function allocWithRoom(size: number): Uint8Array {
  const whole = new Uint8Array(HEADROOM + size + TAILROOM);
  unclaimed.add(whole.buffer);
  return whole.subarray(HEADROOM, HEADROOM + size);
}

/** Whether `v` lies in a buffer from {@link allocWithRoom} not yet claimed. */
export function hasRoom(v: Uint8Array): boolean {
  return unclaimed.has(v.buffer);
}

/**
 * Claims the room around `v` (a view of a buffer from
 * {@link allocWithRoom}): returns the view of `before` bytes, `v` and
 * `after` bytes, for the caller to fill around `v`. Undefined when `v`'s
 * buffer was not made here, was claimed already, or has not that much
 * room. After a successful claim the buffer has no room left to claim.
 */
export function claimRoom(v: Uint8Array, before: number, after: number): Uint8Array | undefined {
  const buf = v.buffer;
  if (!unclaimed.has(buf)) return undefined;
  const start = v.byteOffset - before;
  const end = v.byteOffset + v.length + after;
  if (start < 0 || end > buf.byteLength) return undefined;
  unclaimed.delete(buf);
  return new Uint8Array(buf, start, end - start);
}
