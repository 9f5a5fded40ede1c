/**
 * What a received message must look like before Raft sees it. The peer
 * server has already authenticated the sender (a member of the current
 * configuration, its certificate when peer TLS asks for one); these checks
 * tie each message to that sender and refuse what the Raft core could only
 * misread: a message claiming another sender or receiver, a local-only or
 * unknown type, a peer message without a term (the core would take it for
 * a local input and skip every term check), a snapshot on the message
 * stream.
 *
 * What a message says about the log is not judged here: an append that
 * contradicts this member's committed entries comes from an authenticated
 * member, and the core treats it as the broken invariant it is.
 *
 * @module
 */
import { type Message, MessageType } from "../raft/types.ts";
import { formatId } from "./protocol.ts";

/** A received message refused before it reached Raft; the connection is dropped, the member lives. */
export class BadPeerMessage extends Error {
  /** @param reason what was wrong with it. */
  constructor(reason: string) {
    super(reason);
    this.name = "BadPeerMessage";
  }
}

/** Types only the member itself may step (ticks, transport reports). */
const LOCAL_ONLY = new Set<MessageType>([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);

/** Types a follower forwards as it got them from its own client side: they carry no term. */
const TERMLESS = new Set<MessageType>([MessageType.Prop, MessageType.ReadIndex]);

/** Which endpoint a message came in on. */
export type PeerEndpoint = "stream" | "snapshot";

/**
 * Throws BadPeerMessage unless `m` may be stepped as a message from
 * `sender` to `self` that arrived on `endpoint`.
 */
export function checkPeerMessage(
  m: Message,
  sender: bigint,
  self: bigint,
  endpoint: PeerEndpoint,
): void {
  const type = MessageType[m.type] as string | undefined;
  if (type === undefined) throw new BadPeerMessage(`unknown message type ${m.type}`);
  if (LOCAL_ONLY.has(m.type)) throw new BadPeerMessage(`${type} is not a peer message`);
  if (m.from !== sender) {
    throw new BadPeerMessage(
      `${type} from ${formatId(m.from)} arrived on the connection of ${formatId(sender)}`,
    );
  }
  if (m.to !== self) throw new BadPeerMessage(`${type} is addressed to ${formatId(m.to)}`);
  if (m.term === 0 && !TERMLESS.has(m.type)) throw new BadPeerMessage(`${type} without a term`);
  const isSnap = m.type === MessageType.Snap;
  if (isSnap !== (endpoint === "snapshot")) {
    throw new BadPeerMessage(
      isSnap ? "a snapshot must come on the snapshot endpoint" : `${type} on the snapshot endpoint`,
    );
  }
  if (isSnap && m.snapshot === undefined) {
    throw new BadPeerMessage("Snap without snapshot metadata");
  }
}

/** Checks every message of a received batch (see {@link checkPeerMessage}). */
export function checkPeerBatch(msgs: readonly Message[], sender: bigint, self: bigint): void {
  for (const m of msgs) checkPeerMessage(m, sender, self, "stream");
}
