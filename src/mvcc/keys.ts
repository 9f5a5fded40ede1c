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

/** Encodes bytes as a latin1 binary string (byte i -> char code i). */
export function toBinary(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n <= CHUNK) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let s = "";
  for (let i = 0; i < n; i += CHUNK) {
    s += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(n, i + CHUNK)) as unknown as number[],
    );
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
