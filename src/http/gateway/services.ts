/**
 * The registry of services the JSON gateway dispatches to. It lives apart
 * from the gateway's codec and dispatcher (`gateway.ts`) because the
 * services are registered at start-up, while the gateway itself is loaded
 * on its first request (`mount.ts`).
 *
 * @module
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

/** An implementation object: methods by their local (lowerCamelCase) name. */
export type AnyImpl = Record<string, unknown>;

/** The services the gateway dispatches to, registered by the same code that registers them for gRPC. */
export class GatewayServices {
  readonly #services = new Map<string, { service: DescService; impl: AnyImpl }>();
  /** True while the member knows a leader (for `hasleader` metadata). */
  readonly hasLeader: () => boolean;

  constructor(hasLeader: () => boolean) {
    this.hasLeader = hasLeader;
  }

  /** Makes `service`'s gateway routes call `impl`. */
  add<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.#services.set(service.typeName, { service, impl: impl as AnyImpl });
  }

  /** The registered service named `typeName`. */
  get(typeName: string): { service: DescService; impl: AnyImpl } | undefined {
    return this.#services.get(typeName);
  }
}
