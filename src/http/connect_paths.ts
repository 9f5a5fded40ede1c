/**
 * The request paths the Connect router serves (`/<package.Service>/<Method>`
 * for every method of every registered service, as connect's router
 * registers them: a method without an implementation answers
 * Unimplemented), found without building the router.
 *
 * Why: the router and connect-node (`connect_handlers.ts`) are loaded on the
 * first request that needs them. Built, they hold about 2.7 MiB of V8 heap
 * (per method and protocol, a parser and a serializer for binary and JSON;
 * measured on an idle member, Deno 2.9), which an idle member, or one
 * serving only native gRPC, never needs. Knowing the paths lets `/metrics`,
 * `/health` and the gateway over HTTP/1.1 be served without loading them.
 *
 * @module
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";

/** The paths `routes` registers on a Connect router, e.g. `/etcdserverpb.KV/Range`. */
export function connectPaths(routes: (router: ConnectRouter) => void): Set<string> {
  const paths = new Set<string>();
  const recorder = {
    handlers: [],
    service(service: DescService) {
      for (const m of service.methods) paths.add(`/${service.typeName}/${m.name}`);
      return recorder;
    },
    rpc(method: DescMethod) {
      paths.add(`/${method.parent.typeName}/${method.name}`);
      return recorder;
    },
  };
  routes(recorder as unknown as ConnectRouter);
  return paths;
}
