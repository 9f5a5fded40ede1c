/**
 * Bytes as the dashboard handles them. etcd keys and values are bytes, not
 * text, so the dashboard keeps keys as latin1 "binary strings" (one char
 * per byte: they compare in byte order with `<`, as etcd orders keys) and
 * decodes to UTF-8 only for display.
 *
 * @module
 */

const utf8 = new TextEncoder();
const lossy = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes of `text`. */
export function encodeText(text: string): Uint8Array {
  return utf8.encode(text);
}

/** `bytes` as UTF-8 text, invalid sequences replaced (for display). */
export function decodeText(bytes: Uint8Array): string {
  return lossy.decode(bytes);
}

/** One char per byte: the dashboard's in-memory form of a key. */
export function toBin(bytes: Uint8Array): string {
  let out = "";
  // Chunks keep the argument list of fromCharCode bounded for large values.
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** The bytes of a binary string made by {@link toBin}. */
export function fromBin(bin: string): Uint8Array {
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i) & 0xff;
  return out;
}

/** A binary string of a key, shown as text (UTF-8 where it decodes). */
export function showBin(bin: string): string {
  return decodeText(fromBin(bin));
}

/**
 * The range end that covers every key starting with `prefix`, as etcd's
 * clientv3 `GetPrefixRangeEnd` computes it: the prefix with its last byte
 * below 0xff incremented and the rest cut; "\0" (every key) when there is
 * no such byte.
 */
export function prefixEnd(prefix: string): string {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return "\0";
}

/** How a value is best shown. */
export type ValueKind = "empty" | "json" | "text" | "binary";

/** A value classified and rendered for the viewer. */
export interface ValueView {
  kind: ValueKind;
  /** Pretty JSON, the text itself, or a hex dump. */
  display: string;
}

/** Largest value rendered in full; the hex dump of larger ones is cut. */
const MAX_HEX_BYTES = 64 * 1024;

/**
 * Detects JSON, text or binary: text is valid UTF-8 without control
 * characters other than tab, newline and carriage return; JSON is text that
 * parses as a JSON object or array (a bare number or word is shown as text).
 */
export function viewValue(value: Uint8Array): ValueView {
  if (value.length === 0) return { kind: "empty", display: "" };
  let text: string;
  try {
    text = strict.decode(value);
  } catch {
    return { kind: "binary", display: hexDump(value) };
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
    return { kind: "binary", display: hexDump(value) };
  }
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return { kind: "json", display: JSON.stringify(JSON.parse(trimmed), null, 2) };
    } catch {
      // not JSON after all: plain text
    }
  }
  return { kind: "text", display: text };
}

/** `xxd`-style lines: offset, 16 hex bytes, printable ASCII. */
export function hexDump(bytes: Uint8Array): string {
  const n = Math.min(bytes.length, MAX_HEX_BYTES);
  const lines: string[] = [];
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "."))
      .join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join("\n");
}

/** Parses hex digits (spaces allowed) into bytes; undefined when malformed. */
export function parseHex(text: string): Uint8Array | undefined {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) return undefined;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A binary string as a URL parameter: bytes outside the unreserved ASCII
 * set become %XX, so UTF-8 keys look as encodeURIComponent makes them and
 * keys that are not UTF-8 survive the round trip.
 */
export function binToParam(bin: string): string {
  let out = "";
  for (let i = 0; i < bin.length; i++) {
    const c = bin.charCodeAt(i);
    const ch = bin[i];
    out += /[A-Za-z0-9\-_.~/]/.test(ch) ? ch : "%" + c.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The inverse of {@link binToParam} (lenient: a stray % is kept as is). */
export function paramToBin(param: string): string {
  return param.replace(
    /%([0-9a-fA-F]{2})/g,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
}

/** A member id as etcdctl prints it (`member list`): lower-case hex, no leading zeros. */
export function idHex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}

/**
 * A lease id as etcdctl prints it (`lease grant`, `lease list`): lower-case
 * hex padded to 16 digits. Unpadded, the ids of a member whose id's low 16
 * bits are below 0x1000 (the ids' top bits) would not match etcdctl's.
 */
export function leaseHex(id: bigint): string {
  return idHex(id).padStart(16, "0");
}

/** Bytes as "1.5 MB" style text. */
export function formatBytes(n: number | bigint): string {
  let v = Number(n);
  for (const unit of ["B", "kB", "MB", "GB"]) {
    if (v < 1000 || unit === "GB") return unit === "B" ? `${v} B` : `${v.toFixed(1)} ${unit}`;
    v /= 1000;
  }
  return `${v} B`;
}

/** Hex digits of a value, 32 bytes a line (what the hex editor shows and parses back). */
export function hexLines(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 32) {
    parts.push(
      Array.from(bytes.subarray(i, i + 32), (b) => b.toString(16).padStart(2, "0")).join(" "),
    );
  }
  return parts.join("\n");
}

/** A one-line form of a value, at most 80 characters (binary as 0x and its first 16 bytes). */
export function preview(value: Uint8Array): string {
  const binary = viewValue(value).kind === "binary";
  const text = binary
    ? `0x${hexLines(value.subarray(0, 16)).replace(/ /g, "")}`
    : decodeText(value).replace(/\s+/g, " ");
  return text.length > 80 ? text.slice(0, 80) + "…" : text;
}
