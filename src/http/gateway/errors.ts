/**
 * How etcd 3.5's gateway (grpc-gateway v1.16) reports failures:
 *
 * - a unary call (or a stream that failed before it started) answers with
 *   the HTTP status mapped from the gRPC code and
 *   `{"error":msg,"code":n,"message":msg}`;
 * - a stream that fails answers (or ends, once results went out) with
 *   `{"error":{"grpc_code":n,"http_code":s,"message":msg,"http_status":text}}`;
 * - routing failures are Go's `http.Error` plain text: `Not Found`,
 *   `Method Not Allowed`.
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { goJsonString } from "./json.ts";

/** grpc-gateway v1.16's `HTTPStatusFromCode`. */
export function httpStatusFromCode(code: Code | 0): number {
  switch (code) {
    case 0:
      return 200;
    case Code.Canceled:
      return 408;
    case Code.Unknown:
      return 500;
    case Code.InvalidArgument:
      return 400;
    case Code.DeadlineExceeded:
      return 504;
    case Code.NotFound:
      return 404;
    case Code.AlreadyExists:
      return 409;
    case Code.PermissionDenied:
      return 403;
    case Code.Unauthenticated:
      return 401;
    case Code.ResourceExhausted:
      return 429;
    case Code.FailedPrecondition:
      // grpc-gateway deliberately avoids 412 here (v1.14 on; etcd 3.4's older copy said 412).
      return 400;
    case Code.Aborted:
      return 409;
    case Code.OutOfRange:
      return 400;
    case Code.Unimplemented:
      return 501;
    case Code.Internal:
      return 500;
    case Code.Unavailable:
      return 503;
    case Code.DataLoss:
      return 500;
  }
  return 500;
}

/** Go's `http.StatusText` for the statuses the mapping produces. */
const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  409: "Conflict",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * The gRPC status an error reaches the gateway with: a ConnectError's
 * code and message; anything else is Unknown with its text, as grpc-go
 * reports a plain Go error.
 */
export function grpcStatusOf(err: unknown): { code: Code; message: string } {
  if (err instanceof ConnectError) return { code: err.code, message: err.rawMessage };
  return { code: Code.Unknown, message: err instanceof Error ? err.message : String(err) };
}

/** A unary error answer: status and body. */
export function unaryErrorBody(err: unknown): { status: number; body: string } {
  const { code, message } = grpcStatusOf(err);
  // Field order of grpc-gateway's internal.Error: error, code, message.
  return {
    status: httpStatusFromCode(code),
    body: goJsonString({ error: message, code, message }),
  };
}

/** A stream error chunk: the HTTP status it maps to (used when nothing was sent yet) and the body. */
export function streamErrorBody(err: unknown): { status: number; body: string } {
  const { code, message } = grpcStatusOf(err);
  const status = httpStatusFromCode(code);
  const error: Record<string, unknown> = {};
  // jsonpb leaves zero values out, a zero code or empty message included.
  if ((code as number) !== 0) error.grpc_code = code;
  error.http_code = status;
  if (message !== "") error.message = message;
  error.http_status = STATUS_TEXT[status] ?? "";
  return { status, body: goJsonString({ error }) };
}
