/**
 * The bounds cairn's HTTP/2 server and client put on what a remote party
 * can make them hold or do (DESIGN.md rule 6). Where etcd has a flag the
 * flag wins (`--max-concurrent-streams`, `--max-request-bytes`,
 * `--grpc-keepalive-*`, passed in through the connection options); the
 * rest are these constants. Crossing one closes the stream or the
 * connection with the HTTP/2 error named beside it and one log line
 * (a `LimitError` to the connection's `onError`; listeners log it as a
 * warning with the remote address).
 *
 * @module
 */

/**
 * Largest decoded request header list (RFC 9113 §6.5.2 size: name + value
 * + 32 octets per field), announced as SETTINGS_MAX_HEADER_LIST_SIZE. Go's
 * HTTP/2 server, which serves etcd's TLS client port, allows the same 1 MiB.
 * A longer list is decoded to the end without being kept (HPACK state must
 * stay in step) and answered with HTTP 431 (and RST_STREAM NO_ERROR while
 * the request is open); it never becomes a `Headers` object. Each counts
 * as a reset (MAX_RESETS_PER_SECOND), and is logged once per connection.
 */
export const MAX_HEADER_LIST_SIZE = 1 << 20;

/**
 * Largest encoded header block (HEADERS plus its CONTINUATIONs), bytes.
 * An encoded block is never much larger than the list it decodes to, so
 * a longer one cannot be a request we would accept: ENHANCE_YOUR_CALM on
 * the connection, before it is buffered.
 */
export const MAX_HEADER_BLOCK = MAX_HEADER_LIST_SIZE;

/**
 * CONTINUATION frames allowed in one header block: twice what the largest
 * block needs at the 16 KiB frame size we announce. Empty CONTINUATIONs
 * never grow the block, so without a count they could arrive forever
 * (CVE-2024-27316 class): ENHANCE_YOUR_CALM.
 */
export const MAX_CONTINUATION_FRAMES = 2 * Math.ceil(MAX_HEADER_BLOCK / 16_384);

/**
 * Control frames (SETTINGS and PING acknowledgements, RST_STREAM,
 * WINDOW_UPDATE) waiting to be written. A peer that sends PINGs or
 * SETTINGS and never reads our answers would otherwise queue them without
 * end (CVE-2019-9512, -9515). Go's HTTP/2 server uses the same number;
 * past it the connection ends with ENHANCE_YOUR_CALM.
 */
export const MAX_QUEUED_CONTROL_FRAMES = 10_000;

/**
 * Stream resets per connection in one second: RST_STREAMs from the peer
 * plus the resets its frames provoke (refused and malformed streams).
 * Opening and resetting streams in a loop makes the server start work it
 * never finishes (rapid reset, CVE-2023-44487); past this many the
 * connection ends with ENHANCE_YOUR_CALM. nghttp2's burst allowance is the
 * same 1,000.
 */
export const MAX_RESETS_PER_SECOND = 1_000;

/**
 * How long the peer has to acknowledge our SETTINGS (and so, on the
 * server, to send its own preface first) before the connection ends with
 * SETTINGS_TIMEOUT (RFC 9113 §6.5.3).
 */
export const SETTINGS_ACK_TIMEOUT_MS = 10_000;

/**
 * How long a new client-port connection has to show which protocol it
 * speaks (the whole HTTP/2 preface, or bytes that cannot be one) before it
 * is closed. TLS handshakes have their own limit (`--tls-handshake-timeout`
 * style settings in listen.ts).
 */
export const SNIFF_TIMEOUT_MS = 10_000;

/**
 * A server connection with no open stream for this long gets GOAWAY
 * NO_ERROR and is closed (gRPC clients reconnect on their next call; an
 * idle etcd client port connection costs a socket and its buffers).
 */
export const IDLE_TIMEOUT_MS = 3 * 60 * 1000;

/**
 * Connections one listener serves at once. At the cap a new connection
 * takes the place of the oldest one that is idle (still sniffing, or
 * HTTP/2 with no open stream), which gets GOAWAY NO_ERROR; when none is
 * idle the new connection is closed at once.
 */
export const MAX_CONNECTIONS_PER_LISTENER = 10_000;

/**
 * Receive window a server connection announces per stream (the client
 * port's; the peer port sets larger ones for Raft's traffic from members).
 * A client that sends without reading the answers can make a handler work
 * on at most this much before the window stops coming back (session.ts),
 * and what one request costs can be far more than its bytes: a 14-byte
 * watch create made about 1.5 KB of watch state. grpc-go, which serves
 * etcd's client port, starts at 64 KiB and grows only for a peer that
 * reads.
 */
export const STREAM_WINDOW = 128 * 1024;

/**
 * Receive window of a whole server connection: the bound across all its
 * streams (each new stream's window comes out of it). 256 KiB in flight
 * is about 8 ms of a 1 Gbit/s link, and on loopback far more than the
 * requests of 100 concurrent callers.
 */
export const CONNECTION_WINDOW = 256 * 1024;

/**
 * Response bytes a connection may hold beyond what the socket took. The
 * peer's flow-control windows can be many megabytes (Go clients grow them
 * to 16 MiB), so without this a slow reader would make every watch stream
 * copy that much into memory: past it, stream writes wait for the socket,
 * and no receive window is returned until it drains.
 */
export const OUT_HIGH_WATER = 512 * 1024;

/**
 * After the last frames of a closing connection (a GOAWAY) are queued, how
 * long the socket gets to take them before it is closed anyway: a peer
 * that stopped reading must not keep a closed connection's memory alive.
 */
export const CLOSE_GRACE_MS = 5_000;
