package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/schemas"
)

// APIOptions configure `yiwang bench api`, a load on a running
// server's indicator endpoint.
type APIOptions struct {
	// Server is the running server's URL; Broker its Kafka; Token the
	// bearer token the clients send.
	Server, Broker, Token string
	// Clients request Path at once, each as soon as its answer is read,
	// for Duration.
	Clients  int
	Duration time.Duration
	Path     string
	// Backlog is how many grid events are produced at the start of each
	// phase, so that the loader runs at its full rate in both: alone and
	// under the load.
	Backlog int
	// Seed of the server's district; the backlog's events fall in its
	// grids.
	Seed int64
	// Probe, when set, starts the /healthz probe as a process of its own
	// (running Probe), so that what it measures is the server's answer and
	// not also the wait of the probe's goroutine behind the 200 clients'
	// goroutines in this process. The in-process probe runs as well.
	Probe func(ctx context.Context, url string, every time.Duration) *exec.Cmd
}

// APIResult is what one run measured.
type APIResult struct {
	Requests, OK, Busy, Failed int
	Bytes                      int64
	P50, P99, Max              time.Duration // of the answered requests
	// Health are /healthz's latencies from the probe of its own process
	// (APIOptions.Probe), Inline those from a probe goroutine beside the
	// clients.
	Health                   []time.Duration
	HealthP50, HealthP99     time.Duration
	HealthMax                time.Duration
	Inline                   []time.Duration
	InlineP50, InlineP99     time.Duration
	RSSBefore, RSSPeak       float64 // the server's, from its /metrics
	LoaderIdle, LoaderLoaded float64 // records/s without and with the load
}

// BenchAPI measures the server under Clients concurrent clients of Path:
// their latencies and outcomes, /healthz's latency from a probe every
// 50 ms, the server's resident memory sampled from its /metrics, and the
// loader's rate on a backlog of grid events, first with no load (the peer)
// and then under it. Run it against a scratch demo: the backlog's events
// are loaded into its grid_events.
func API(ctx context.Context, o APIOptions, progress io.Writer) (APIResult, error) {
	var res APIResult
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		return res, err
	}
	sc, _ := reg.Get("grid_event")
	gen := simulate.NewEventGenerator(simulate.NewDistrict(o.Seed, 0.01), o.Seed)
	w := kafka.NewWriter([]string{o.Broker}, kafka.WriterOptions{BatchSize: 5000, BatchTimeout: 2 * time.Millisecond, Compress: true})
	defer func() { _ = w.Close() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients + 4}, Timeout: 2 * time.Minute}
	from := int(time.Now().Unix()%900) * 1_000_000 // keys no earlier run used

	loadBacklog := func(first int) (float64, error) {
		before, err := scrape(ctx, client, o.Server, "yiwang_loader_records_total")
		if err != nil {
			return 0, err
		}
		start := time.Now()
		if err := produceRange(ctx, w, sc.Topic, first, first+o.Backlog, gen, time.Now().Add(-24*time.Hour)); err != nil {
			return 0, err
		}
		for {
			n, err := scrape(ctx, client, o.Server, "yiwang_loader_records_total")
			if err != nil {
				return 0, err
			}
			if n-before >= float64(o.Backlog) {
				return (n - before) / time.Since(start).Seconds(), nil
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	res.RSSBefore, _ = scrape(ctx, client, o.Server, "process_resident_memory_bytes")
	fmt.Fprintf(progress, "the loader alone on %d grid events...\n", o.Backlog)
	if res.LoaderIdle, err = loadBacklog(from); err != nil {
		return res, err
	}

	fmt.Fprintf(progress, "%d clients on %s for %s, with %d more grid events...\n", o.Clients, o.Path, o.Duration, o.Backlog)
	lctx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	var mu sync.Mutex
	var lats []time.Duration
	var reqs, ok, busy, failed atomic.Int64
	var bytes atomic.Int64
	var wg sync.WaitGroup
	for range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(lctx, http.MethodGet, o.Server+o.Path, nil)
				if o.Token != "" {
					req.Header.Set("Authorization", "Bearer "+o.Token)
				}
				resp, err := client.Do(req)
				if err != nil {
					if lctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if lctx.Err() != nil {
					return // cut by the end of the run: not a whole answer
				}
				reqs.Add(1)
				bytes.Add(n)
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
					mu.Lock()
					lats = append(lats, time.Since(t0))
					mu.Unlock()
				case http.StatusServiceUnavailable:
					busy.Add(1)
					time.Sleep(time.Second) // as Retry-After asks, roughly
				default:
					failed.Add(1)
				}
			}
		}()
	}
	// The health probes and the memory sampler.
	var probed *probeProcess
	if o.Probe != nil {
		if probed, err = startProbe(lctx, o.Probe(lctx, o.Server+"/healthz", 50*time.Millisecond)); err != nil {
			return res, err
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		probe := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			t0 := time.Now()
			resp, err := probe.Get(o.Server + "/healthz")
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if lctx.Err() == nil {
				res.Inline = append(res.Inline, time.Since(t0))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for lctx.Err() == nil {
			if v, err := scrape(lctx, &http.Client{Timeout: 10 * time.Second}, o.Server, "process_resident_memory_bytes"); err == nil {
				res.RSSPeak = max(res.RSSPeak, v)
			}
			select {
			case <-lctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	res.LoaderLoaded, err = loadBacklog(from + o.Backlog)
	wg.Wait()
	if err != nil {
		return res, fmt.Errorf("the loader under load: %w", err)
	}
	if probed != nil {
		if res.Health, err = probed.wait(); err != nil {
			return res, err
		}
	} else {
		res.Health = res.Inline
	}
	res.Requests, res.OK, res.Busy, res.Failed = int(reqs.Load()), int(ok.Load()), int(busy.Load()), int(failed.Load())
	res.Bytes = bytes.Load()
	res.P50, res.P99, res.Max = quantiles(lats)
	res.HealthP50, res.HealthP99, res.HealthMax = quantiles(res.Health)
	res.InlineP50, res.InlineP99, _ = quantiles(res.Inline)
	return res, nil
}

// Probe asks url every interval until ctx ends and writes each answer's
// latency in microseconds, one a line, to out: the probe process of
// APIOptions.Probe. A failed request is written as -1.
func Probe(ctx context.Context, url string, every time.Duration, out io.Writer) error {
	c := &http.Client{Timeout: probeTimeout}
	t := time.NewTicker(every)
	defer t.Stop()
	w := bufio.NewWriter(out)
	defer func() { _ = w.Flush() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		d := time.Since(t0).Microseconds()
		if err != nil || resp.StatusCode != http.StatusOK {
			d = -1
		}
		if _, err := fmt.Fprintln(w, d); err != nil {
			return err
		}
	}
}

const probeTimeout = 10 * time.Second

// probeProcess is a running probe process and the latencies it wrote.
type probeProcess struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	errs *bytes.Buffer
}

func startProbe(ctx context.Context, cmd *exec.Cmd) (*probeProcess, error) {
	p := &probeProcess{cmd: cmd, out: &bytes.Buffer{}, errs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.errs
	// Ended by an interrupt when the load ends, so it flushes what it has.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the /healthz probe: %w", err)
	}
	return p, nil
}

// wait returns the probes' latencies, a failed one as probeTimeout.
func (p *probeProcess) wait() ([]time.Duration, error) {
	_ = p.cmd.Wait() // ended by the context
	var out []time.Duration
	for _, line := range strings.Fields(p.out.String()) {
		us, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("the /healthz probe wrote %q: %s", line, strings.TrimSpace(p.errs.String()))
		}
		d := time.Duration(us) * time.Microsecond
		if us < 0 {
			d = probeTimeout // failed: counted as the longest wait
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the /healthz probe measured nothing: %s", strings.TrimSpace(p.errs.String()))
	}
	return out, nil
}

func quantiles(d []time.Duration) (p50, p99, maxD time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)], s[len(s)-1]
}

// scrape reads the sum of a metric's samples from the server's /metrics.
func scrape(ctx context.Context, c *http.Client, server, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", server, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if name == "yiwang_loader_records_total" && !strings.Contains(rest, `table="grid_events"`) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return 0, fmt.Errorf("%s/metrics has no %s", server, name)
	}
	return sum, sc.Err()
}
