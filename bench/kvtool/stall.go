// The stall mode of kvtool (bench/lib/stall.ts):
//
//	kvtool -mode stall -endpoint 127.0.0.1:P -clients 10 -conns 10 -seconds 20 \
//	       -keys 1000000 -prefix s/ -val 256
//	    Puts from `clients` writers, each as soon as the previous one is
//	    answered, for `seconds`, over keys prefix%08d below `keys` (the
//	    keys a load wrote, so the store keeps its size). Every put's start
//	    (unix ms) and latency (ms) are printed, so the caller can cut out
//	    the window in which the server took a snapshot or defragmented.
//
// It prints kvbench's JSON shape (ok, errors, seconds, rps, p50/p90/p99)
// plus max_ms and samples: [[start_unix_ms, latency_ms], ...].
package main

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type stallOpts struct {
	endpoint       string
	clients, conns int
	seconds        int
	keys, valSize  int
	prefix         string
}

func stallBench(ctx context.Context, o stallOpts) (map[string]interface{}, error) {
	cs := make([]*clientv3.Client, o.conns)
	for i := range cs {
		c, err := clientv3.New(clientConfig(o.endpoint, clientv3.Config{DialTimeout: 5 * time.Second}))
		if err != nil {
			return nil, fmt.Errorf("dial: %v", err)
		}
		defer c.Close()
		cs[i] = c
	}
	val := string(make([]byte, o.valSize))
	type sample struct{ start, lat float64 }
	per := make([][]sample, o.clients)
	var errs int64
	var firstErr atomic.Value
	end := time.Now().Add(time.Duration(o.seconds) * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			r := rand.New(rand.NewSource(int64(w) + 1))
			for time.Now().Before(end) {
				key := fmt.Sprintf("%s%08d", o.prefix, r.Intn(o.keys))
				t0 := time.Now()
				_, err := c.Put(ctx, key, val)
				if err != nil {
					atomic.AddInt64(&errs, 1)
					firstErr.CompareAndSwap(nil, err.Error())
					if ctx.Err() != nil {
						return
					}
					continue
				}
				per[w] = append(per[w], sample{
					start: float64(t0.UnixNano()) / 1e6,
					lat:   float64(time.Since(t0).Microseconds()) / 1000,
				})
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []sample
	for _, s := range per {
		all = append(all, s...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })
	lats := make([]float64, len(all))
	samples := make([][2]float64, len(all))
	for i, s := range all {
		lats[i] = s.lat
		samples[i] = [2]float64{s.start, s.lat}
	}
	sort.Float64s(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return lats[int(p*float64(len(lats)-1))]
	}
	maxMs := 0.0
	if len(lats) > 0 {
		maxMs = lats[len(lats)-1]
	}
	out := map[string]interface{}{
		"op": "put", "clients": o.clients, "conns": o.conns, "ok": len(all), "errors": errs,
		"seconds": elapsed.Seconds(), "rps": float64(len(all)) / elapsed.Seconds(),
		"p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": maxMs,
		"samples": samples,
	}
	if e, ok := firstErr.Load().(string); ok {
		out["first_error"] = e
	}
	return out, nil
}
