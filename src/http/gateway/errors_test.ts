import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { EtcdErrors } from "../../errors.ts";
import { httpStatusFromCode, streamErrorBody, unaryErrorBody } from "./errors.ts";

Deno.test("gateway errors: grpc-gateway v1.16's status for every code", () => {
  const want: Array<[Code | 0, number]> = [
    [0, 200],
    [Code.Canceled, 408],
    [Code.Unknown, 500],
    [Code.InvalidArgument, 400],
    [Code.DeadlineExceeded, 504],
    [Code.NotFound, 404],
    [Code.AlreadyExists, 409],
    [Code.PermissionDenied, 403],
    [Code.ResourceExhausted, 429],
    [Code.FailedPrecondition, 400],
    [Code.Aborted, 409],
    [Code.OutOfRange, 400],
    [Code.Unimplemented, 501],
    [Code.Internal, 500],
    [Code.Unavailable, 503],
    [Code.DataLoss, 500],
    [Code.Unauthenticated, 401],
  ];
  for (const [code, status] of want) assert.equal(httpStatusFromCode(code), status, `code ${code}`);
});

Deno.test("gateway errors: unary body is error, code, message", () => {
  assert.deepEqual(unaryErrorBody(EtcdErrors.emptyKey()), {
    status: 400,
    body:
      '{"error":"etcdserver: key is not provided","code":3,"message":"etcdserver: key is not provided"}',
  });
  // A plain error reaches clients as Unknown with its text, as grpc-go sends it.
  assert.deepEqual(unaryErrorBody(new Error('"leader" field must be provided')), {
    status: 500,
    body:
      '{"error":"\\"leader\\" field must be provided","code":2,"message":"\\"leader\\" field must be provided"}',
  });
});

Deno.test("gateway errors: stream error chunk", () => {
  assert.deepEqual(streamErrorBody(EtcdErrors.noLeader()), {
    status: 503,
    body:
      '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}',
  });
  assert.equal(
    streamErrorBody(new ConnectError("context deadline exceeded", Code.DeadlineExceeded)).body,
    '{"error":{"grpc_code":4,"http_code":504,"message":"context deadline exceeded","http_status":"Gateway Timeout"}}',
  );
});
