// The watch mode of kvtool: many watchers open on one server, then
//
//	(a) put-to-event latency: sequential puts to one key under the watched
//	    prefix, each value starting with its send time (UnixNano) and
//	    sequence number; every watcher records now - send time for every
//	    event, and the next put waits until all watchers have the previous
//	    one, so each figure is one uncontended fan-out;
//	(b) put throughput while watching: `total` puts by `clients` requesters
//	    on their own `conns` connections (watch streams and puts never share
//	    a connection), keys spread under the same prefix, so each put is
//	    delivered to every watcher; then it waits (bounded) until the
//	    watchers have received every event, and reports how long that took.
package main

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

const (
	watchPrefix = "wb/"
	latencyKey  = watchPrefix + "lat"
)

// watchOpts are the knobs of the watch mode (flags in main.go).
type watchOpts struct {
	endpoint   string
	watchers   int // watchers in all
	wconns     int // connections the watchers share (one watch stream each)
	latPuts    int // puts of phase (a)
	clients    int // requesters of phase (b)
	conns      int // connections of phase (b)
	total      int // puts of phase (b)
	keys       int // distinct keys of phase (b)
	valSize    int
	drainLimit time.Duration // how long phase (b) waits for the last events
}

// watchState is what the watcher goroutines share with the putters.
type watchState struct {
	mu       sync.Mutex        // guards latency: a late event may land while it is read
	latency  [][]time.Duration // per watcher: put -> event, phase (a)
	receipts chan int64        // sequence numbers of phase (a) events, one per watcher and put
	bulk     int64             // events of phase (b) received, all watchers together
	failed   atomic.Value      // first watch error (string)
}

func dialAll(n int, endpoint string) ([]*clientv3.Client, error) {
	cs := make([]*clientv3.Client, 0, n)
	for i := 0; i < n; i++ {
		c, err := clientv3.New(clientConfig(endpoint, clientv3.Config{DialTimeout: 5 * time.Second}))
		if err != nil {
			closeAll(cs)
			return nil, fmt.Errorf("dial: %v", err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*clientv3.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// payload is "<unix nanos> <seq> " padded with zero bytes to size.
func payload(seq int64, size int) string {
	head := fmt.Sprintf("%d %d ", time.Now().UnixNano(), seq)
	if len(head) >= size {
		return head
	}
	return head + string(make([]byte, size-len(head)))
}

func parsePayload(v []byte) (sent time.Time, seq int64, ok bool) {
	f := strings.SplitN(string(v), " ", 3)
	if len(f) < 3 {
		return time.Time{}, 0, false
	}
	ns, err1 := strconv.ParseInt(f[0], 10, 64)
	seq, err2 := strconv.ParseInt(f[1], 10, 64)
	return time.Unix(0, ns), seq, err1 == nil && err2 == nil
}

// openWatchers starts every watcher and returns once the server has
// confirmed each one (WithCreatedNotify), or with the first failure.
func openWatchers(ctx context.Context, cs []*clientv3.Client, o watchOpts, st *watchState) error {
	created := make(chan error, o.watchers)
	for i := 0; i < o.watchers; i++ {
		// Watchers on one client and one context share that client's single
		// watch stream, as an application's watchers would.
		ch := cs[i%len(cs)].Watch(ctx, watchPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		go receive(ctx, i, ch, st, created)
	}
	for i := 0; i < o.watchers; i++ {
		select {
		case err := <-created:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d watchers created before the bound", i, o.watchers)
		}
	}
	return nil
}

func receive(ctx context.Context, i int, ch clientv3.WatchChan, st *watchState, created chan<- error) {
	confirmed := false
	for resp := range ch {
		if err := resp.Err(); err != nil {
			st.failed.CompareAndSwap(nil, fmt.Sprintf("watcher %d: %v", i, err))
			if !confirmed {
				created <- err
			}
			return
		}
		if resp.Created {
			// clientv3 re-creates a watcher after its stream broke: count it once.
			if !confirmed {
				confirmed = true
				created <- nil
			}
			continue
		}
		now := time.Now()
		for _, ev := range resp.Events {
			if string(ev.Kv.Key) != latencyKey {
				atomic.AddInt64(&st.bulk, 1)
				continue
			}
			if sent, seq, ok := parsePayload(ev.Kv.Value); ok {
				st.mu.Lock()
				st.latency[i] = append(st.latency[i], now.Sub(sent))
				st.mu.Unlock()
				st.receipts <- seq
			}
		}
	}
	if ctx.Err() == nil {
		st.failed.CompareAndSwap(nil, fmt.Sprintf("watcher %d: channel closed", i))
	}
	if !confirmed {
		created <- fmt.Errorf("watcher %d closed before it was created", i)
	}
}

// latencyPhase puts o.latPuts values one at a time, waiting for every
// watcher to receive each before the next; a put not delivered to all
// within 5 s counts as missing and the phase moves on.
func latencyPhase(ctx context.Context, c *clientv3.Client, o watchOpts, st *watchState) (int, error) {
	missing := 0
	for seq := int64(0); seq < int64(o.latPuts); seq++ {
		if _, err := c.Put(ctx, latencyKey, payload(seq, o.valSize)); err != nil {
			return missing, fmt.Errorf("latency put %d: %v", seq, err)
		}
		got := 0
		timer := time.NewTimer(5 * time.Second)
	wait:
		for got < o.watchers {
			select {
			case s := <-st.receipts:
				if s == seq {
					got++
				}
			case <-timer.C:
				missing += o.watchers - got
				break wait
			case <-ctx.Done():
				timer.Stop()
				return missing, ctx.Err()
			}
		}
		timer.Stop()
	}
	return missing, nil
}

// bulkPhase is kvbench's put at `clients` requesters, with the watchers open.
func bulkPhase(ctx context.Context, cs []*clientv3.Client, o watchOpts) (ok int, errs int64, lat []time.Duration, elapsed time.Duration) {
	val := string(make([]byte, o.valSize))
	var next int64 = -1
	per := make([][]time.Duration, o.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			r := rand.New(rand.NewSource(int64(w)))
			for atomic.AddInt64(&next, 1) < int64(o.total) {
				key := fmt.Sprintf("%sk%06d", watchPrefix, r.Intn(o.keys))
				t0 := time.Now()
				if _, err := c.Put(ctx, key, val); err != nil {
					atomic.AddInt64(&errs, 1)
					if ctx.Err() != nil {
						return
					}
					continue
				}
				per[w] = append(per[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed = time.Since(start)
	for _, l := range per {
		lat = append(lat, l...)
	}
	return len(lat), errs, lat, elapsed
}

// percentiles in ms of unsorted durations: p50, p90, p99, max (zeros when empty).
func percentiles(ds []time.Duration) (p50, p90, p99, max float64) {
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(p float64) float64 { return ms(ds[int(p*float64(len(ds)-1))]) }
	return at(0.5), at(0.9), at(0.99), ms(ds[len(ds)-1])
}

func watchBench(ctx context.Context, o watchOpts) (map[string]interface{}, error) {
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
	st := &watchState{
		latency:  make([][]time.Duration, o.watchers),
		receipts: make(chan int64, 2*o.watchers),
	}
	wctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	t0 := time.Now()
	if err := openWatchers(wctx, wcs, o, st); err != nil {
		return nil, fmt.Errorf("opening watchers: %v", err)
	}
	out := map[string]interface{}{
		"watchers": o.watchers, "watch_conns": o.wconns, "open_ms": ms(time.Since(t0)),
	}

	missing, err := latencyPhase(ctx, pcs[0], o, st)
	// Receipts that arrive after a put timed out must not block a watcher.
	go func() {
		for {
			select {
			case <-st.receipts:
			case <-wctx.Done():
				return
			}
		}
	}()
	var all []time.Duration
	st.mu.Lock()
	for _, l := range st.latency {
		all = append(all, l...)
	}
	st.mu.Unlock()
	p50, p90, p99, max := percentiles(all)
	out["lat_puts"], out["lat_events"], out["lat_missing"] = o.latPuts, len(all), missing
	out["lat_p50_ms"], out["lat_p90_ms"], out["lat_p99_ms"], out["lat_max_ms"] = p50, p90, p99, max
	if err != nil {
		return out, err
	}

	ok, errs, lat, elapsed := bulkPhase(ctx, pcs, o)
	p50, p90, p99, _ = percentiles(lat)
	out["clients"], out["conns"], out["total"], out["ok"], out["errors"] = o.clients, o.conns, o.total, ok, errs
	out["seconds"], out["rps"] = elapsed.Seconds(), float64(ok)/elapsed.Seconds()
	out["p50_ms"], out["p90_ms"], out["p99_ms"] = p50, p90, p99
	// Every successful put is an event for every watcher.
	want := int64(ok) * int64(o.watchers)
	drainStart := time.Now()
	for atomic.LoadInt64(&st.bulk) < want && time.Since(drainStart) < o.drainLimit && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	got := atomic.LoadInt64(&st.bulk)
	out["events_expected"], out["events"] = want, got
	out["drain_ms"] = ms(time.Since(drainStart))
	out["events_per_s"] = float64(got) / (elapsed + time.Since(drainStart)).Seconds()
	if f := st.failed.Load(); f != nil {
		return out, fmt.Errorf("%v", f)
	}
	if errs > 0 {
		return out, fmt.Errorf("%d puts failed", errs)
	}
	return out, nil
}
