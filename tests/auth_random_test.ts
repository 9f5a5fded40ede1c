/**
 * Randomized RBAC: random roles with random permission ranges (single
 * keys, prefixes, ranges, from-key), random users holding random roles,
 * and thousands of random Range, Put, DeleteRange, Txn (with nested txns,
 * prev_kv) and Watch requests against a live member, each answer checked
 * against a small independent model of "is this allowed".
 *
 * The model does not merge intervals: a union of half-open intervals is
 * constant between their end points, so a request range is covered when
 * its start and every permission end point inside it are each in some
 * permission. Seeded and replayable: RBAC_SEED=<n> (the seed is printed),
 * RBAC_REQUESTS=<n> (default 3000).
 */
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AuthEnableRequestSchema,
  AuthEnableResponseSchema,
  AuthRoleAddRequestSchema,
  AuthRoleAddResponseSchema,
  AuthRoleGrantPermissionRequestSchema,
  AuthRoleGrantPermissionResponseSchema,
  AuthUserAddRequestSchema,
  AuthUserAddResponseSchema,
  AuthUserGrantRoleRequestSchema,
  AuthUserGrantRoleResponseSchema,
  DeleteRangeRequestSchema,
  DeleteRangeResponseSchema,
  PutRequestSchema,
  PutResponseSchema,
  RangeRequestSchema,
  RangeResponseSchema,
  type RequestOp,
  RequestOpSchema,
  TxnRequestSchema,
  TxnResponseSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Permission_Type } from "../src/gen/etcd/api/authpb/auth_pb.ts";
import { AuthClient, GrpcError } from "./harness/auth_client.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_random_test.ts");

/** sfc32: small, fast, seedable. */
function rng(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0, b >>>= 0, c >>>= 0, d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

// ---- the model ----

/** A permission or request range over latin1 keys; `end` null is unbounded. */
interface Span {
  begin: string;
  end: string | null;
}

type Kind = "read" | "write";

interface ModelUser {
  name: string;
  root: boolean;
  read: Span[];
  write: Span[];
}

function inSpan(key: string, s: Span): boolean {
  return key >= s.begin && (s.end === null || key < s.end);
}

/** Whether `perms` cover every key of `req` (a single key when `point`). */
function covered(perms: Span[], req: Span, point: boolean): boolean {
  if (point) return perms.some((p) => inSpan(req.begin, p));
  if (req.end !== null && req.begin >= req.end) return false;
  const probes = [req.begin];
  for (const p of perms) {
    for (const x of [p.begin, p.end]) {
      if (x !== null && x > req.begin && (req.end === null || x < req.end)) probes.push(x);
    }
  }
  return probes.every((x) => perms.some((p) => inSpan(x, p)));
}

function allowed(u: ModelUser, kind: Kind, key: string, rangeEnd: string): boolean {
  if (u.root) return true;
  const perms = kind === "read" ? u.read : u.write;
  if (rangeEnd === "") return covered(perms, { begin: key, end: null }, true);
  return covered(perms, { begin: key, end: rangeEnd === "\0" ? null : rangeEnd }, false);
}

// ---- random requests ----

const ALPHABET = "abc";

function randomKey(r: () => number): string {
  const n = 1 + Math.floor(r() * 3);
  let k = "";
  for (let i = 0; i < n; i++) k += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return k;
}

function prefixEnd(k: string): string {
  return k.slice(0, -1) + String.fromCharCode(k.charCodeAt(k.length - 1) + 1);
}

/** A random (key, range_end): single key, prefix, range or from-key. */
function randomRange(r: () => number): [string, string] {
  const key = randomKey(r);
  const x = r();
  if (x < 0.35) return [key, ""];
  if (x < 0.6) return [key, prefixEnd(key)];
  if (x < 0.85) {
    let other = randomKey(r);
    if (other === key) other = key + "a";
    return key < other ? [key, other] : [other, key];
  }
  return [key, "\0"];
}

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

type Req =
  | { kind: "range"; key: string; end: string }
  | { kind: "put"; key: string; prevKv: boolean }
  | { kind: "delete"; key: string; end: string; prevKv: boolean }
  | { kind: "txn"; txn: TxnShape }
  | { kind: "watch"; key: string; end: string };

interface TxnShape {
  compares: Array<[string, string]>;
  success: Req[];
  failure: Req[];
}

/** A txn whose whole tree holds at most one write (so etcd's duplicate-key rule never fires). */
function randomTxn(r: () => number, depth: number, writes: { left: number }): TxnShape {
  const ops = (): Req[] => {
    const out: Req[] = [];
    const n = Math.floor(r() * 3);
    for (let i = 0; i < n; i++) {
      const x = r();
      if (x < 0.2 && depth < 2) out.push({ kind: "txn", txn: randomTxn(r, depth + 1, writes) });
      else if (x < 0.5 && writes.left > 0) {
        writes.left--;
        if (r() < 0.5) out.push({ kind: "put", key: randomKey(r), prevKv: r() < 0.4 });
        else {
          const [key, end] = randomRange(r);
          out.push({ kind: "delete", key, end, prevKv: r() < 0.4 });
        }
      } else {
        const [key, end] = randomRange(r);
        out.push({ kind: "range", key, end });
      }
    }
    return out;
  };
  const compares: Array<[string, string]> = [];
  const nc = Math.floor(r() * 3);
  for (let i = 0; i < nc; i++) compares.push(randomRange(r));
  return { compares, success: ops(), failure: ops() };
}

function randomReq(r: () => number): Req {
  const x = r();
  if (x < 0.25) {
    const [key, end] = randomRange(r);
    return { kind: "range", key, end };
  }
  if (x < 0.45) return { kind: "put", key: randomKey(r), prevKv: r() < 0.3 };
  if (x < 0.55) {
    const [key, end] = randomRange(r);
    return { kind: "delete", key, end, prevKv: r() < 0.3 };
  }
  if (x < 0.8) return { kind: "txn", txn: randomTxn(r, 0, { left: 1 }) };
  const [key, end] = randomRange(r);
  return { kind: "watch", key, end };
}

function modelAllows(u: ModelUser, req: Req): boolean {
  switch (req.kind) {
    case "range":
    case "watch":
      return allowed(u, "read", req.key, req.end);
    case "put":
      return allowed(u, "write", req.key, "") && (!req.prevKv || allowed(u, "read", req.key, ""));
    case "delete":
      return allowed(u, "write", req.key, req.end) &&
        (!req.prevKv || allowed(u, "read", req.key, req.end));
    case "txn":
      return req.txn.compares.every(([k, e]) => allowed(u, "read", k, e)) &&
        [...req.txn.success, ...req.txn.failure].every((op) => modelAllows(u, op));
  }
}

function toOp(req: Req): RequestOp {
  switch (req.kind) {
    case "range":
    case "watch":
      return create(RequestOpSchema, {
        request: { case: "requestRange", value: { key: bytes(req.key), rangeEnd: bytes(req.end) } },
      });
    case "put":
      return create(RequestOpSchema, {
        request: {
          case: "requestPut",
          value: { key: bytes(req.key), value: bytes("v"), prevKv: req.prevKv },
        },
      });
    case "delete":
      return create(RequestOpSchema, {
        request: {
          case: "requestDeleteRange",
          value: { key: bytes(req.key), rangeEnd: bytes(req.end), prevKv: req.prevKv },
        },
      });
    case "txn":
      return create(RequestOpSchema, { request: { case: "requestTxn", value: toTxn(req.txn) } });
  }
}

function toTxn(t: TxnShape): MessageInitShape<typeof TxnRequestSchema> {
  return {
    compare: t.compares.map(([k, e]) => ({ key: bytes(k), rangeEnd: bytes(e), target: 1 })),
    success: t.success.map(toOp),
    failure: t.failure.map(toOp),
  };
}

/** Sends `req` as `c`; true when served, false when refused with permission denied. */
async function send(c: AuthClient, req: Req): Promise<boolean> {
  try {
    switch (req.kind) {
      case "range":
        await c.call(
          "/etcdserverpb.KV/Range",
          RangeRequestSchema,
          { key: bytes(req.key), rangeEnd: bytes(req.end) },
          RangeResponseSchema,
        );
        return true;
      case "put":
        await c.call(
          "/etcdserverpb.KV/Put",
          PutRequestSchema,
          { key: bytes(req.key), value: bytes("v"), prevKv: req.prevKv },
          PutResponseSchema,
        );
        return true;
      case "delete":
        await c.call(
          "/etcdserverpb.KV/DeleteRange",
          DeleteRangeRequestSchema,
          { key: bytes(req.key), rangeEnd: bytes(req.end), prevKv: req.prevKv },
          DeleteRangeResponseSchema,
        );
        return true;
      case "txn":
        await c.call("/etcdserverpb.KV/Txn", TxnRequestSchema, toTxn(req.txn), TxnResponseSchema);
        return true;
      case "watch": {
        const w = await c.watchCreate({ key: bytes(req.key), rangeEnd: bytes(req.end) });
        assert.ok(w.first.created, "a watch create is answered with created");
        if (!w.first.canceled) return true;
        assert.equal(
          w.first.cancelReason,
          "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
        );
        return false;
      }
    }
  } catch (err) {
    if (err instanceof GrpcError && err.code === 7) return false;
    throw err;
  }
}

Deno.test({
  name: "auth: randomized RBAC requests agree with an independent model",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const seed = Number(Deno.env.get("RBAC_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const total = Number(Deno.env.get("RBAC_REQUESTS") ?? 3000);
    console.log(`RBAC_SEED=${seed} RBAC_REQUESTS=${total}`);
    const r = rng(seed);
    const member = await Member.start({
      kind: "cairn",
      name: "rbac",
      extraArgs: ["--log-level=warn", "--bcrypt-cost=4"],
    });
    const clients: AuthClient[] = [];
    try {
      const admin = new AuthClient(member.clientUrl);
      clients.push(admin);
      const auth = async <I extends Parameters<typeof admin.call>[1]>(
        method: string,
        schema: I,
        req: MessageInitShape<I>,
        // deno-lint-ignore no-explicit-any
        out: any,
      ) => await admin.call(`/etcdserverpb.Auth/${method}`, schema, req, out);
      // Roles with random permissions.
      const roles = new Map<string, Array<{ type: Permission_Type; span: Span }>>();
      const nRoles = 3 + Math.floor(r() * 3);
      for (let i = 0; i < nRoles; i++) {
        const name = `role${i}`;
        await auth("RoleAdd", AuthRoleAddRequestSchema, { name }, AuthRoleAddResponseSchema);
        const perms: Array<{ type: Permission_Type; span: Span }> = [];
        const granted = new Map<string, Permission_Type>();
        const n = 1 + Math.floor(r() * 4);
        for (let j = 0; j < n; j++) {
          const [key, end] = randomRange(r);
          const type = [Permission_Type.READ, Permission_Type.WRITE, Permission_Type.READWRITE][
            Math.floor(r() * 3)
          ];
          await auth(
            "RoleGrantPermission",
            AuthRoleGrantPermissionRequestSchema,
            { name, perm: { key: bytes(key), rangeEnd: bytes(end), permType: type } },
            AuthRoleGrantPermissionResponseSchema,
          );
          // Granting the same range again replaces its type, as etcd does.
          granted.set(`${key}\u0001${end}`, type);
        }
        for (const [id, type] of granted) {
          const [key, end] = id.split("\u0001");
          const span: Span = end === ""
            ? { begin: key, end: key + "\0" }
            : { begin: key, end: end === "\0" ? null : end };
          perms.push({ type, span });
        }
        roles.set(name, perms);
      }
      // Users holding random roles, plus root.
      const users: ModelUser[] = [];
      for (const name of ["root", "u0", "u1", "u2", "u3", "u4"]) {
        await auth(
          "UserAdd",
          AuthUserAddRequestSchema,
          { name, password: `${name}pw` },
          AuthUserAddResponseSchema,
        );
        const held = name === "root" ? ["root"] : [...roles.keys()].filter(() => r() < 0.4);
        for (const role of held) {
          await auth(
            "UserGrantRole",
            AuthUserGrantRoleRequestSchema,
            { user: name, role },
            AuthUserGrantRoleResponseSchema,
          );
        }
        const perms = held.flatMap((h) => roles.get(h) ?? []);
        users.push({
          name,
          root: name === "root",
          read: perms.filter((p) => p.type !== Permission_Type.WRITE).map((p) => p.span),
          write: perms.filter((p) => p.type !== Permission_Type.READ).map((p) => p.span),
        });
      }
      await auth("AuthEnable", AuthEnableRequestSchema, {}, AuthEnableResponseSchema);
      const logins = new Map<string, AuthClient>();
      for (const u of users) {
        const c = new AuthClient(member.clientUrl);
        clients.push(c);
        await c.login(u.name, `${u.name}pw`);
        logins.set(u.name, c);
      }
      // Requests, a batch at a time, each checked against the model.
      const mismatches: string[] = [];
      let allowedCount = 0;
      const batch = 16;
      for (let i = 0; i < total; i += batch) {
        const jobs = [];
        for (let j = i; j < Math.min(total, i + batch); j++) {
          const u = users[Math.floor(r() * users.length)];
          const req = randomReq(r);
          const want = modelAllows(u, req);
          jobs.push(
            send(logins.get(u.name)!, req).then((got) => {
              if (got) allowedCount++;
              if (got !== want) {
                mismatches.push(
                  `#${j} ${u.name} ${JSON.stringify(req)}: model ${want ? "allows" : "denies"}, ` +
                    `cairn ${got ? "allowed" : "denied"}`,
                );
              }
            }),
          );
        }
        await Promise.all(jobs);
      }
      console.log(`${total} requests: ${allowedCount} allowed, ${total - allowedCount} denied`);
      assert.deepEqual(mismatches, [], `seed ${seed}: ${mismatches.length} mismatches`);
      // Both outcomes were exercised, or the test could not fail.
      assert.ok(allowedCount > total / 10 && allowedCount < total * 0.9);
    } finally {
      for (const c of clients) c.close();
      await member.destroy();
    }
  },
});
