import assert from "node:assert/strict";
import { Hono } from "hono";
import { mountLazy, type RouteRegistrar } from "./lazy_routes.ts";

const register: RouteRegistrar = (app) => {
  app.get("/x", (c) => c.text("x"));
  app.get("/x/*", (c) => c.text(`deep ${c.req.path}`));
};

Deno.test("lazy routes: loaded on the first request only, then served as if registered directly", async () => {
  let loads = 0;
  const app = new Hono();
  mountLazy(app, ["/x", "/x/*"], () => {
    loads++;
    return Promise.resolve(register);
  });
  app.get("/other", (c) => c.text("other"));
  assert.equal(await (await app.request("/other")).text(), "other");
  assert.equal(loads, 0, "a request elsewhere loads nothing");
  // Two first requests at once share one load.
  const [a, b] = await Promise.all([app.request("/x"), app.request("/x/a/b")]);
  assert.equal(await a.text(), "x");
  assert.equal(await b.text(), "deep /x/a/b");
  assert.equal(loads, 1);
  assert.equal(await (await app.request("/x/")).text(), "deep /x/");
  assert.equal(loads, 1);
});

Deno.test("lazy routes: a method or path the loaded routes lack answers hono's 404, as before", async () => {
  const direct = new Hono();
  register(direct);
  const lazy = new Hono();
  mountLazy(lazy, ["/x", "/x/*"], () => Promise.resolve(register));
  for (const [method, path] of [["POST", "/x"], ["DELETE", "/x/y"]]) {
    const want = await direct.request(path, { method });
    const got = await lazy.request(path, { method });
    assert.equal(got.status, want.status, `${method} ${path}`);
    assert.equal(got.status, 404);
    assert.equal(await got.text(), await want.text());
  }
  // HEAD of a GET route, as hono answers it.
  const head = await lazy.request("/x", { method: "HEAD" });
  assert.equal(head.status, (await direct.request("/x", { method: "HEAD" })).status);
});

Deno.test("lazy routes: a failed load fails that request and is tried again by the next", async () => {
  let loads = 0;
  const app = new Hono();
  app.onError((err, c) => c.text(`failed: ${err.message}`, 500));
  mountLazy(app, ["/x"], () => {
    loads++;
    return loads === 1 ? Promise.reject(new Error("no module")) : Promise.resolve(register);
  });
  const first = await app.request("/x");
  assert.equal(first.status, 500);
  assert.equal(await first.text(), "failed: no module");
  assert.equal(await (await app.request("/x")).text(), "x");
  assert.equal(loads, 2);
});
