/**
 * HTTP/2 frame layout (RFC 9113 §4, §6): the 9-byte frame header, frame
 * types, flags, settings identifiers and error codes that cairn's HTTP/2
 * server and client need.
 *
 * @module
 */

/** The connection preface every HTTP/2 client sends first. */
export const CLIENT_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Bytes of a frame header. */
export const FRAME_HEADER_SIZE = 9;

/** Frame types. */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Frame flags (their meaning depends on the frame type). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Settings identifiers (RFC 9113 §6.5.2). */
export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** Error codes for RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** The initial flow-control window of connections and streams. */
export const DEFAULT_WINDOW = 65_535;
/** The largest window RFC 9113 allows. */
export const MAX_WINDOW = 2 ** 31 - 1;
/** Frame payload limit before SETTINGS_MAX_FRAME_SIZE says otherwise. */
export const DEFAULT_MAX_FRAME = 16_384;

/** A connection-level failure: the connection ends with GOAWAY carrying `code`. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/**
 * The peer crossed one of the bounds in limits.ts. `streamId` is set when
 * only that stream was refused; otherwise the connection ends with GOAWAY
 * carrying `code`. Listeners log these as warnings: they are what an
 * attack (or a badly broken client) looks like.
 */
export class LimitError extends ConnectionError {
  constructor(code: number, message: string, readonly streamId?: number) {
    super(code, message);
  }
}

/** Writes a frame header at `off` of `buf`. */
export function writeFrameHeader(
  buf: Uint8Array,
  off: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  buf[off] = length >>> 16;
  buf[off + 1] = (length >>> 8) & 0xff;
  buf[off + 2] = length & 0xff;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf[off + 5] = (streamId >>> 24) & 0x7f;
  buf[off + 6] = (streamId >>> 16) & 0xff;
  buf[off + 7] = (streamId >>> 8) & 0xff;
  buf[off + 8] = streamId & 0xff;
}

/** A whole frame: header plus `payload`. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload?: Uint8Array,
): Uint8Array {
  const len = payload?.length ?? 0;
  const out = new Uint8Array(FRAME_HEADER_SIZE + len);
  writeFrameHeader(out, 0, len, type, flags, streamId);
  if (payload) out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/** A frame whose payload is one 32-bit value (RST_STREAM, WINDOW_UPDATE). */
export function frameU32(type: number, streamId: number, value: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + 4);
  writeFrameHeader(out, 0, 4, type, 0, streamId);
  new DataView(out.buffer).setUint32(FRAME_HEADER_SIZE, value);
  return out;
}

/** A GOAWAY frame naming the last stream processed and the reason. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug);
  const payload = new Uint8Array(8 + text.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStreamId & 0x7fffffff);
  view.setUint32(4, code);
  payload.set(text, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** A SETTINGS frame carrying `settings` (identifier → value). */
export function settingsFrame(settings: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const payload = new Uint8Array(settings.length * 6);
  const view = new DataView(payload.buffer);
  settings.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

/** Strips padding (the PADDED flag) from a DATA or HEADERS payload in b[start, end). */
export function unpad(flags: number, b: Uint8Array, start: number, end: number): [number, number] {
  if (!(flags & Flag.PADDED)) return [start, end];
  if (start >= end) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "missing pad length");
  const pad = b[start];
  if (pad >= end - start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding too long");
  return [start + 1, end - pad];
}
