/**
 * Key encoding for the MVCC store.
 *
 * Keys are arbitrary bytes. Inside the store each key is also held as a latin1
 * "binary string" (one char code per byte, 0..255): plain `<` on such strings
 * compares in byte order, exactly like Go's `bytes.Compare`, and JS strings
 * make fast Map keys.
 */

/** The shared empty byte string (never mutated: it has no bytes). */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

// String.fromCharCode.apply has an argument-count limit; chunk long keys.
const CHUNK = 8192;
/** Keys up to this long are copied into {@link scratch} and passed from there. */
const SCRATCH = 256;
const cc = String.fromCharCode;
// A packed array of small integers: `apply` passes its elements straight on
// the stack, where a typed array goes through a generic array-like copy
// (a heap list per call).
const scratch: number[] = new Array(SCRATCH).fill(0);

/** Encodes bytes as a latin1 binary string (byte i -> char code i). */
export function toBinary(bytes: Uint8Array): string {
  const b = bytes;
  const n = b.length;
  // Short keys: their bytes go as arguments, with nothing in between.
  switch (n) {
    case 0:
      return "";
    case 1:
      return cc(b[0]);
    case 2:
      return cc(b[0], b[1]);
    case 3:
      return cc(b[0], b[1], b[2]);
    case 4:
      return cc(b[0], b[1], b[2], b[3]);
    case 5:
      return cc(b[0], b[1], b[2], b[3], b[4]);
    case 6:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5]);
    case 7:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6]);
    case 8:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    case 9:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
    case 10:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]);
    case 11:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10]);
    case 12:
      return cc(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]);
  }
  if (n <= SCRATCH) {
    const a = scratch;
    a.length = n;
    for (let i = 0; i < n; i++) a[i] = b[i];
    return cc.apply(null, a);
  }
  let s = "";
  for (let i = 0; i < n; i += CHUNK) {
    s += cc.apply(null, b.subarray(i, Math.min(n, i + CHUNK)) as unknown as number[]);
  }
  return s;
}

/** Decodes a latin1 binary string back into bytes. */
export function fromBinary(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Byte-order comparison of two byte strings (like Go's `bytes.Compare`). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * How a request's `range_end` selects keys, as etcd reads it:
 * empty means the single key `key`; the one byte `"\0"` means every key
 * `>= key`; anything else means the half-open interval `[key, range_end)`.
 */
export type KeySpan =
  | { kind: "single"; key: string }
  | { kind: "from"; key: string }
  | { kind: "range"; key: string; end: string };

/** Interprets `(key, range_end)` the way etcd's `mkGteRange` + key index do. */
export function keySpan(key: Uint8Array, rangeEnd: Uint8Array): KeySpan {
  const k = toBinary(key);
  if (rangeEnd.length === 0) return { kind: "single", key: k };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: "from", key: k };
  return { kind: "range", key: k, end: toBinary(rangeEnd) };
}
