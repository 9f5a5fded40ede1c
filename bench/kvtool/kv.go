package main

// kvtool -mode kv: put/get/getser/txn load, the same workload shapes as
// ../shared/kvbench, for the bench rows that need what kvbench lacks (TLS,
// auth, and the JSON gateway's gwput/gwget, see gateway.go).
// Prints rps and latency percentiles in kvbench's JSON shape.

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
)

type kvOpts struct {
	endpoint, op, label         string
	total, clients, conns, keys int
	valSize                     int
	user, password              string
}

func kvBench(ctx context.Context, o kvOpts) (map[string]interface{}, error) {
	cs := make([]*clientv3.Client, o.conns)
	for i := range cs {
		cfg := clientv3.Config{DialTimeout: 5 * time.Second}
		if o.op != "auth" {
			// The connection logs in once; every request then carries the token.
			cfg.Username, cfg.Password = o.user, o.password
		}
		c, err := clientv3.New(clientConfig(o.endpoint, cfg))
		if err != nil {
			return nil, fmt.Errorf("dial: %v", err)
		}
		defer c.Close()
		cs[i] = c
	}
	val := string(make([]byte, o.valSize))
	gw := gatewayClient(o.clients)
	if o.op != "put" && o.op != "auth" && o.op != "gwput" {
		for k := 0; k < o.keys; k++ {
			if _, err := cs[0].Put(ctx, fmt.Sprintf("key%08d", k), val); err != nil {
				return nil, fmt.Errorf("preload: %v", err)
			}
		}
	}
	var next int64 = -1
	var errs int64
	lat := make([][]time.Duration, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			rnd := rand.New(rand.NewSource(int64(w)))
			for atomic.AddInt64(&next, 1) < int64(o.total) {
				key := fmt.Sprintf("key%08d", rnd.Intn(o.keys))
				t0 := time.Now()
				var err error
				switch o.op {
				case "put":
					_, err = c.Put(ctx, key, val)
				case "get":
					_, err = c.Get(ctx, key)
				case "gwput", "gwget":
					err = gatewayDo(ctx, gw, o.endpoint, o.op, key, val)
				case "auth":
					// clientv3 keeps Authenticate to itself: call the RPC directly.
					_, err = pb.NewAuthClient(c.ActiveConnection()).Authenticate(ctx,
						&pb.AuthenticateRequest{Name: o.user, Password: o.password})
				case "getser":
					_, err = c.Get(ctx, key, clientv3.WithSerializable())
				case "txn":
					cmp := clientv3.Compare(clientv3.ModRevision(key), ">", 0)
					_, err = c.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, val)).Else(clientv3.OpPut(key, val)).Commit()
				default:
					err = fmt.Errorf("unknown op %q", o.op)
				}
				if err != nil {
					atomic.AddInt64(&errs, 1)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p50, p90, p99, max := percentiles(all)
	out := map[string]interface{}{
		"label": o.label, "op": o.op, "clients": o.clients, "conns": o.conns, "ok": len(all),
		"errors": errs, "seconds": elapsed.Seconds(), "rps": float64(len(all)) / elapsed.Seconds(),
		"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
	}
	if len(all) > 0 {
		// The tail beyond p99 shows single long stalls (a GC pause, an fsync
		// outlier) that p99 alone averages away.
		out["p999_ms"] = ms(all[int(0.999*float64(len(all)-1))])
	}
	if errs > 0 {
		return out, fmt.Errorf("%d requests failed", errs)
	}
	return out, nil
}
