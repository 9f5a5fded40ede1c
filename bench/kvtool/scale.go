// The scale modes of kvtool (bench/scale.ts):
//
//	kvtool -mode scan -op range -endpoint 127.0.0.1:P -n 1000000 -span 10000 -prefix s/ \
//	       -clients 10 -conns 10 -total 500 -for 60s
//	    Ranges of `span` keys under one prefix, on a keyspace written by
//	    `-mode load -prefix s/ -n N` (keys s/%08d): with span 10,000 the
//	    prefix s/0012 holds exactly s/00120000..s/00129999. Each request
//	    picks one such prefix at random; a reply with another number of
//	    keys counts as an error (a server that lost keys must not look fast).
//	kvtool -mode scan -op count -n 1000000 -clients 1 -total 20
//	    count_only Range over the whole keyspace (key "\x00", range_end
//	    "\x00"); a count below n is an error.
//	kvtool -mode watchkeys -watchers 10000 -wconns 10 -rate 1000 -seconds 10
//	    One watcher on each of `watchers` distinct keys, then puts at a fixed
//	    rate, round-robin over the keys, each value carrying its send time;
//	    the watcher of that key records receive - send (see watchKeys).
//
// Both print kvbench's JSON shape (ok, errors, seconds, rps, p50/p90/p99)
// plus what is particular to them.
package main

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type scanOpts struct {
	endpoint, op, prefix string
	n, span              int
	clients, conns       int
	total                int
	limit                time.Duration // stop issuing requests after this long
}

// scanBench issues o.total range or count requests by o.clients requesters
// and times each one.
func scanBench(ctx context.Context, o scanOpts) (map[string]interface{}, error) {
	if o.op != "range" && o.op != "count" {
		return nil, fmt.Errorf("unknown scan op %q (range | count)", o.op)
	}
	groups := 1
	if o.op == "range" {
		if o.span <= 0 || o.n%o.span != 0 || !isPowerOf10(o.span) || o.span > 100000000 {
			return nil, fmt.Errorf("-span %d must be a power of ten dividing -n %d", o.span, o.n)
		}
		groups = o.n / o.span
	}
	// A key is prefix + 8 digits; a span of 10^k keys shares the first 8-k digits.
	digits := 8 - len(fmt.Sprint(o.span)) + 1
	cs, err := dialAll(o.conns, o.endpoint)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	var next int64 = -1
	var errs, keysRead int64
	var firstErr atomic.Value
	fail := func(e string) {
		atomic.AddInt64(&errs, 1)
		firstErr.CompareAndSwap(nil, e)
	}
	lat := make([][]time.Duration, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			rnd := rand.New(rand.NewSource(int64(w)))
			for atomic.AddInt64(&next, 1) < int64(o.total) && time.Since(start) < o.limit {
				t0 := time.Now()
				if o.op == "range" {
					p := fmt.Sprintf("%s%0*d", o.prefix, digits, rnd.Intn(groups))
					r, err := c.Get(ctx, p, clientv3.WithPrefix())
					if err != nil {
						fail(err.Error())
					} else if len(r.Kvs) != o.span {
						fail(fmt.Sprintf("range %q returned %d keys, not %d", p, len(r.Kvs), o.span))
					} else {
						atomic.AddInt64(&keysRead, int64(len(r.Kvs)))
						lat[w] = append(lat[w], time.Since(t0))
					}
				} else {
					r, err := c.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly())
					if err != nil {
						fail(err.Error())
					} else if r.Count < int64(o.n) {
						fail(fmt.Sprintf("count_only over the keyspace counted %d, want >= %d", r.Count, o.n))
					} else {
						lat[w] = append(lat[w], time.Since(t0))
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p50, p90, p99, _ := percentiles(all)
	out := map[string]interface{}{
		"op": o.op, "clients": o.clients, "conns": o.conns, "ok": len(all), "errors": errs,
		"seconds": elapsed.Seconds(), "rps": float64(len(all)) / elapsed.Seconds(),
		"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "keys_read": keysRead,
	}
	if errs > 0 {
		return out, fmt.Errorf("%d requests failed, first: %v", errs, firstErr.Load())
	}
	if len(all) == 0 {
		return out, fmt.Errorf("no request finished within %v", o.limit)
	}
	return out, nil
}

func isPowerOf10(n int) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

type watchKeysOpts struct {
	endpoint   string
	watchers   int // one per distinct key
	wconns     int // connections the watchers share (one watch stream each)
	conns      int // connections of the putters
	clients    int // putters: at most this many puts in flight
	rate       int // puts per second
	seconds    int // how long the puts go on
	valSize    int
	drainLimit time.Duration
}

// watchKeys opens one watcher per key, then puts at a fixed rate (open
// loop: put i is due at start + i/rate whatever the server's pace, taken
// by the first free putter), round-robin over the keys, so each put is one
// event for one watcher. Latency is receive time - send time of each put.
func watchKeys(ctx context.Context, o watchKeysOpts) (map[string]interface{}, error) {
	wcs, err := dialAll(o.wconns, o.endpoint)
	if err != nil {
		return nil, err
	}
	defer closeAll(wcs)
	pcs, err := dialAll(o.conns, o.endpoint)
	if err != nil {
		return nil, err
	}
	defer closeAll(pcs)
	wctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	key := func(i int) string { return fmt.Sprintf("wk/%06d", i) }

	var mu sync.Mutex
	var lat []time.Duration
	var received, stray int64
	var failed atomic.Value
	created := make(chan error, o.watchers)
	t0 := time.Now()
	for i := 0; i < o.watchers; i++ {
		ch := wcs[i%len(wcs)].Watch(wctx, key(i), clientv3.WithCreatedNotify())
		go func(i int, ch clientv3.WatchChan) {
			confirmed := false
			for resp := range ch {
				if err := resp.Err(); err != nil {
					failed.CompareAndSwap(nil, fmt.Sprintf("watcher %d: %v", i, err))
					break
				}
				if resp.Created {
					if !confirmed {
						confirmed = true
						created <- nil
					}
					continue
				}
				now := time.Now()
				for _, ev := range resp.Events {
					sent, _, ok := parsePayload(ev.Kv.Value)
					if !ok || string(ev.Kv.Key) != key(i) {
						atomic.AddInt64(&stray, 1)
						continue
					}
					mu.Lock()
					lat = append(lat, now.Sub(sent))
					mu.Unlock()
					atomic.AddInt64(&received, 1)
				}
			}
			if !confirmed {
				created <- fmt.Errorf("watcher %d closed before it was created", i)
			}
		}(i, ch)
	}
	for i := 0; i < o.watchers; i++ {
		select {
		case err := <-created:
			if err != nil {
				return nil, fmt.Errorf("opening watchers: %v", err)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d watchers created before the bound", i, o.watchers)
		}
	}
	out := map[string]interface{}{
		"watchers": o.watchers, "watch_conns": o.wconns, "open_ms": ms(time.Since(t0)),
		"rate": o.rate, "clients": o.clients, "conns": o.conns,
	}

	total := o.rate * o.seconds
	interval := time.Second / time.Duration(o.rate)
	var next int64 = -1
	var errs, late int64
	putLat := make([][]time.Duration, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := pcs[w%len(pcs)]
			for i := atomic.AddInt64(&next, 1); i < int64(total); i = atomic.AddInt64(&next, 1) {
				due := start.Add(time.Duration(i) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				} else if d < -10*time.Millisecond {
					// The putters fell behind the schedule: the rate was not held.
					atomic.AddInt64(&late, 1)
				}
				t := time.Now()
				if _, err := c.Put(ctx, key(int(i)%o.watchers), payload(i, o.valSize)); err != nil {
					atomic.AddInt64(&errs, 1)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				putLat[w] = append(putLat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var puts []time.Duration
	for _, l := range putLat {
		puts = append(puts, l...)
	}
	drainStart := time.Now()
	for atomic.LoadInt64(&received) < int64(len(puts)) && time.Since(drainStart) < o.drainLimit &&
		ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	out["drain_ms"] = ms(time.Since(drainStart))
	p50, p90, p99, _ := percentiles(puts)
	out["total"], out["ok"], out["errors"], out["late"] = total, len(puts), errs, late
	out["seconds"], out["rps"] = elapsed.Seconds(), float64(len(puts))/elapsed.Seconds()
	out["p50_ms"], out["p90_ms"], out["p99_ms"] = p50, p90, p99
	mu.Lock()
	ev := append([]time.Duration(nil), lat...)
	mu.Unlock()
	p50, p90, p99, max := percentiles(ev)
	out["events"], out["events_expected"], out["stray"] = len(ev), len(puts), atomic.LoadInt64(&stray)
	out["lat_p50_ms"], out["lat_p90_ms"], out["lat_p99_ms"], out["lat_max_ms"] = p50, p90, p99, max
	var problems []string
	if f := failed.Load(); f != nil {
		problems = append(problems, f.(string))
	}
	if errs > 0 {
		problems = append(problems, fmt.Sprintf("%d puts failed", errs))
	}
	if len(ev) < len(puts) {
		problems = append(problems, fmt.Sprintf("%d of %d events never arrived", len(puts)-len(ev), len(puts)))
	}
	if s := atomic.LoadInt64(&stray); s > 0 {
		problems = append(problems, fmt.Sprintf("%d events for another key or unreadable", s))
	}
	if len(problems) > 0 {
		return out, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return out, nil
}
