/**
 * The JSON of etcd's grpc-gateway (grpc-gateway v1's `JSONPb{OrigName:
 * true}` over golang/protobuf's jsonpb), built on @bufbuild/protobuf's
 * canonical JSON mapping:
 *
 * - proto field names (`create_revision`, `TTL`, `ID`), not lowerCamelCase;
 * - 64-bit integers as decimal strings, bytes as padded standard base64,
 *   enums by name;
 * - fields holding their zero value left out (EmitDefaults is off);
 * - compact output with Go's HTML-safe escaping of `<`, `>`, `&`, U+2028
 *   and U+2029 (encoding/json does it and jsonpb writes strings through it).
 *
 * Input accepts what jsonpb accepts: proto or lowerCamelCase names, 64-bit
 * integers as strings or numbers (numbers beyond 2^53 are kept exact),
 * either base64 alphabet, `null` for an empty message, and unknown fields
 * (grpc-gateway v1 allows them).
 *
 * @module
 */
import {
  create,
  type DescMessage,
  fromJson,
  type JsonValue,
  type MessageShape,
  toJson,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/** Encodes `msg` as etcd's gateway does. */
export function encodeGatewayJson<D extends DescMessage>(schema: D, msg: MessageShape<D>): string {
  return goJsonString(toJson(schema, msg, { useProtoFieldName: true }));
}

/** `JSON.stringify` with Go's HTML-safe escapes, as encoding/json writes. */
export function goJsonString(value: JsonValue | Record<string, unknown>): string {
  const text = JSON.stringify(value);
  return HTML_UNSAFE.test(text) ? text.replace(HTML_UNSAFE_ALL, escapeChar) : text;
}

const HTML_UNSAFE = /[<>&\u2028\u2029]/;
const HTML_UNSAFE_ALL = /[<>&\u2028\u2029]/g;

function escapeChar(c: string): string {
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

/** Integers with more digits than this may not survive as JS numbers. */
const LONG_INTEGER = /\d{16}/;
const INTEGER_SOURCE = /^-?\d+$/;

/**
 * Parses JSON text keeping integers beyond 2^53 exact (as their decimal
 * text, which the protobuf JSON reader takes for 64-bit fields): clients
 * such as etcd3gw send lease ids as bare numbers.
 */
export function parseJsonExact(text: string): JsonValue {
  if (!LONG_INTEGER.test(text)) return JSON.parse(text);
  return JSON.parse(text, function (_key, value, context?: { source?: string }) {
    if (
      typeof value === "number" && !Number.isSafeInteger(value) &&
      context?.source !== undefined && INTEGER_SOURCE.test(context.source)
    ) {
      return context.source;
    }
    return value;
  });
}

/**
 * Decodes one request message from JSON text; a text that is not JSON or
 * does not fit the message fails as grpc-gateway fails it: InvalidArgument
 * with the reason.
 */
export function decodeGatewayJson<D extends DescMessage>(
  schema: D,
  text: string,
): MessageShape<D> {
  let value: JsonValue;
  try {
    value = parseJsonExact(text);
  } catch (err) {
    throw new ConnectError(err instanceof Error ? err.message : String(err), Code.InvalidArgument);
  }
  if (value === null) return create(schema);
  try {
    return fromJson(schema, value, { ignoreUnknownFields: true });
  } catch (err) {
    throw new ConnectError(err instanceof Error ? err.message : String(err), Code.InvalidArgument);
  }
}
