// kvtool: the helpers bench/run.ts needs beside kvbench, on the same
// official Go client (clientv3) so etcd and cairn are driven identically.
//
//	kvtool -mode probe -endpoint 127.0.0.1:P -timeout 60s
//	    Waits until the port accepts TCP, then retries a linearizable Get
//	    until one succeeds. Start it before the server: the harness times
//	    server spawn -> probe exit, so the probe's own start-up is not counted.
//	kvtool -mode load -endpoint 127.0.0.1:P -n 100000 -val 256 -clients 100 -conns 10
//	    Puts n distinct keys (prefix + %08d, each written exactly once) and
//	    then checks with a count-only Range that all n are there; a failed
//	    check is reported as "count_error" (exit 0: the keys were written).
//
//	kvtool -mode kv -endpoint 127.0.0.1:P -op put|get|getser|txn -clients 100 -conns 10 \
//	       -total 30000 -keys 1000 [-cacert ca.pem [-cert c.pem -key c.key]]
//	    kvbench's load over TLS (-cacert, -cert and -key work in every mode).
//
//	kvtool -mode kv ... -op gwput|gwget
//	    The put and linearizable get loads as JSON over HTTP/1.1 to the
//	    grpc-gateway (/v3/kv/put, /v3/kv/range), one connection per client.
//
//	kvtool -mode authsetup -endpoint 127.0.0.1:P
//	    Turns auth on with a root user and a user "bench" (see auth.go).
//	kvtool -mode kv ... -user bench -password benchpw [-op auth]
//	    The kv load as that user; -op auth measures Authenticate itself.
//
//	kvtool -mode watch -endpoint 127.0.0.1:P -watchers 1000 -wconns 10 -latputs 200 \
//	       -clients 100 -conns 10 -total 5000
//	    Opens the watchers on one prefix, then measures put -> event latency
//	    and put throughput while they receive (see watch.go).
//
//	kvtool -mode scan -op range|count ...   and   kvtool -mode watchkeys ...
//	    The scale rows (bench/scale.ts): ranges of 10,000 keys and count_only
//	    over a loaded keyspace; watchers on distinct keys under a fixed put
//	    rate (see scale.go).
//
// All print one JSON object on stdout and exit 1 on failure.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

func main() {
	mode := flag.String("mode", "probe", "probe | load | watch | kv | authsetup | scan | watchkeys | stall")
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "server address")
	timeout := flag.Duration("timeout", 60*time.Second, "bound on the whole run")
	n := flag.Int("n", 100000, "load: distinct keys to write")
	valSize := flag.Int("val", 256, "load, watch: value bytes")
	clients := flag.Int("clients", 100, "load, watch: concurrent writers")
	conns := flag.Int("conns", 10, "load, watch: gRPC connections of the writers")
	prefix := flag.String("prefix", "mem", "load: key prefix")
	watchers := flag.Int("watchers", 1000, "watch: watchers on the prefix")
	wconns := flag.Int("wconns", 10, "watch: connections the watchers share")
	latPuts := flag.Int("latputs", 200, "watch: sequential puts timed put -> event")
	total := flag.Int("total", 5000, "watch: puts of the throughput phase")
	keys := flag.Int("keys", 1000, "watch: distinct keys of the throughput phase")
	drain := flag.Duration("drain", 20*time.Second, "watch: bound on waiting for the last events")
	op := flag.String("op", "put", "kv: put | get | getser | txn | auth | gwput | gwget; scan: range | count")
	span := flag.Int("span", 10000, "scan: keys per range (a power of ten)")
	limit := flag.Duration("for", time.Minute, "scan: stop issuing requests after this long")
	rate := flag.Int("rate", 1000, "watchkeys: puts per second")
	seconds := flag.Int("seconds", 10, "watchkeys: how long the puts go on")
	user := flag.String("user", "", "kv: run as this user (auth enabled)")
	password := flag.String("password", "", "kv: the user's password")
	label := flag.String("label", "", "kv: label printed with the result")
	caFile := flag.String("cacert", "", "all: CA bundle; dial over TLS")
	certFile := flag.String("cert", "", "all: client certificate for mutual TLS")
	keyFile := flag.String("key", "", "all: client key for mutual TLS")
	flag.Parse()
	var tlsErr error
	if clientTLS, tlsErr = loadClientTLS(*caFile, *certFile, *keyFile); tlsErr != nil {
		fmt.Fprintln(os.Stderr, "tls:", tlsErr)
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var out map[string]interface{}
	var err error
	switch *mode {
	case "probe":
		out, err = probe(ctx, *endpoint)
	case "load":
		out, err = load(ctx, *endpoint, *n, *valSize, *clients, *conns, *prefix)
	case "watch":
		out, err = watchBench(ctx, watchOpts{
			endpoint: *endpoint, watchers: *watchers, wconns: *wconns, latPuts: *latPuts,
			clients: *clients, conns: *conns, total: *total, keys: *keys, valSize: *valSize,
			drainLimit: *drain,
		})
	case "scan":
		out, err = scanBench(ctx, scanOpts{
			endpoint: *endpoint, op: *op, prefix: *prefix, n: *n, span: *span,
			clients: *clients, conns: *conns, total: *total, limit: *limit,
		})
	case "watchkeys":
		out, err = watchKeys(ctx, watchKeysOpts{
			endpoint: *endpoint, watchers: *watchers, wconns: *wconns, conns: *conns,
			clients: *clients, rate: *rate, seconds: *seconds, valSize: *valSize,
			drainLimit: *drain,
		})
	case "stall":
		out, err = stallBench(ctx, stallOpts{
			endpoint: *endpoint, clients: *clients, conns: *conns, seconds: *seconds,
			keys: *keys, valSize: *valSize, prefix: *prefix,
		})
	case "authsetup":
		out, err = authSetup(ctx, *endpoint)
	case "kv":
		out, err = kvBench(ctx, kvOpts{
			endpoint: *endpoint, op: *op, label: *label, total: *total, clients: *clients,
			conns: *conns, keys: *keys, valSize: *valSize, user: *user, password: *password,
		})
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		if out == nil {
			out = map[string]interface{}{}
		}
		out["error"] = err.Error()
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if err != nil {
		os.Exit(1)
	}
}

// probe polls TCP first because a gRPC dial against a closed port backs off
// for about a second between attempts, which would swamp what we measure.
func probe(ctx context.Context, endpoint string) (map[string]interface{}, error) {
	start := time.Now()
	fmt.Fprintln(os.Stderr, "probe: waiting")
	for {
		c, err := net.DialTimeout("tcp", endpoint, 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("port never opened: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	tcpAt := time.Since(start)
	attempts := 0
	for {
		attempts++
		err := tryGet(ctx, endpoint)
		if err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "probe: attempt %d at %.1f ms: %v\n", attempts, ms(time.Since(start)), err)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no Get succeeded after %d attempts: %v", attempts, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return map[string]interface{}{
		"tcp_ms": ms(tcpAt), "served_ms": ms(time.Since(start)), "attempts": attempts,
	}, nil
}

// tryGet dials afresh each attempt. The generous timeouts matter: a server
// may accept TCP long before it answers the HTTP/2 handshake (etcd serves
// only once it is ready), and a short timeout would round the measured time
// up to the next attempt. The short reconnect backoff keeps a server that
// resets early connections from costing gRPC's default 1 s backoff.
func tryGet(ctx context.Context, endpoint string) error {
	fast := grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.2, MaxDelay: 50 * time.Millisecond},
		MinConnectTimeout: 10 * time.Second,
	})
	c, err := clientv3.New(clientConfig(endpoint, clientv3.Config{
		DialTimeout: 10 * time.Second, DialOptions: []grpc.DialOption{fast},
	}))
	if err != nil {
		return err
	}
	defer c.Close()
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.Get(actx, "probe")
	return err
}

func load(ctx context.Context, endpoint string, n, valSize, clients, conns int, prefix string) (map[string]interface{}, error) {
	cs := make([]*clientv3.Client, conns)
	for i := range cs {
		c, err := clientv3.New(clientConfig(endpoint, clientv3.Config{DialTimeout: 5 * time.Second}))
		if err != nil {
			return nil, fmt.Errorf("dial: %v", err)
		}
		defer c.Close()
		cs[i] = c
	}
	val := string(make([]byte, valSize))
	var next, errs int64 = -1, 0
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			// Each index is taken once, so every key is written exactly once.
			for i := atomic.AddInt64(&next, 1); i < int64(n); i = atomic.AddInt64(&next, 1) {
				if _, err := c.Put(ctx, fmt.Sprintf("%s%08d", prefix, i), val); err != nil {
					atomic.AddInt64(&errs, 1)
					firstErr.CompareAndSwap(nil, err.Error())
					if ctx.Err() != nil {
						return
					}
				}
			}
		}(cs[w%conns])
	}
	wg.Wait()
	elapsed := time.Since(start)
	out := map[string]interface{}{"n": n, "errors": errs, "seconds": elapsed.Seconds(),
		"rps": float64(n) / elapsed.Seconds()}
	if errs > 0 {
		return out, fmt.Errorf("%d puts failed, first: %v", errs, firstErr.Load())
	}
	// The check has its own short bound: a server that cannot answer it
	// should not eat the whole load budget.
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	r, err := cs[0].Get(cctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		out["count_error"] = fmt.Sprintf("count-only range of %q: %v", prefix, err)
	} else if out["count"] = r.Count; r.Count != int64(n) {
		out["count_error"] = fmt.Sprintf("expected %d keys under %q, server counts %d", n, prefix, r.Count)
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
