package pipelines

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/audit"
	"github.com/yiwang-gov/yiwang/internal/deliver"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/loader"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/internal/reference"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Role is what one process runs of a pipeline.
type Role int

const (
	// RoleAll runs the connectors and serves (yiwang run, yiwang demo),
	// with the embedded broker inside when kafka.brokers is empty.
	RoleAll Role = iota
	// RoleConnect runs the connectors only (yiwang connect): stateless
	// but for their cursors, which live in Kafka.
	RoleConnect
	// RoleServe runs the loader, the scheduler and the API over the DuckDB
	// file, which it alone opens (yiwang serve).
	RoleServe
)

func (r Role) connects() bool { return r == RoleAll || r == RoleConnect }
func (r Role) serves() bool   { return r == RoleAll || r == RoleServe }

func (r Role) String() string {
	return [...]string{"run", "connect", "serve"}[r]
}

// Run runs opts.Role of cfg until ctx ends or one of its parts fails.
//
// The parts are actors of one group (github.com/oklog/run, as Prometheus
// runs its own): each has a run and an interrupt function, the first to
// return interrupts the others, and Run returns once all have returned
// with the first one's error. Interrupted, the connectors finish the page
// they are on, the loader commits what it consumed, the scheduler stops
// between queries and the server finishes its requests; the database and
// the broker close after them.
func Run(ctx context.Context, cfg *Config, opts Options) (err error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	// No log line carries an ID or mobile number in clear, whatever a
	// source system's or a driver's error quotes.
	opts.Log = slog.New(pii.NewLogHandler(opts.Log.Handler()))
	log := opts.Log
	p := &Pipeline{cfg: cfg, opts: opts, metrics: metrics.New()}
	if p.registry, err = schemas.LoadEmbedded(); err != nil {
		return err
	}
	if probs := cfg.CheckSchemas(p.registry); len(probs) > 0 {
		return probs
	}
	if err := p.compileMaps(); err != nil {
		return err
	}
	defer p.close()
	defer cfg.ApplyRuntime()()

	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		if opts.Role != RoleAll {
			return fmt.Errorf("yiwang %s runs apart from the broker: name it in kafka.brokers of %s (or pass --brokers), e.g. a `yiwang broker` or an Apache Kafka cluster", opts.Role, cfg.file)
		}
		p.broker, err = kafka.StartBroker(BrokerConfig(cfg))
		if err != nil {
			return err
		}
		brokers = []string{p.broker.Addr()}
		log.Info("embedded kafka broker started", "addr", p.broker.Addr(), "data", filepath.Join(cfg.DataDir, "kafka"))
	}
	p.brokers = brokers
	p.client = kafka.NewClient(brokers)
	// A role run apart from its broker may start while the broker does (or
	// is restarted): it waits for it, as its loader and connectors do.
	if err := p.client.AwaitTopics(ctx, Topics(cfg, p.registry), log); err != nil {
		return err
	}
	// Batches of 200 records (about 120 KB): a fetch answer holds at least
	// one whole batch, whatever the loader's fetch budget asks for.
	p.writer = kafka.NewWriter(brokers, kafka.WriterOptions{BatchSize: 200})

	var g run.Group
	stopped := make(chan struct{})
	g.Add(func() error {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		return nil
	}, func(error) { close(stopped) })
	server := ""
	if opts.Role.serves() {
		if server, err = p.serve(ctx, &g); err != nil {
			return err
		}
	} else {
		// Validation without the database: the codes of the reference file.
		areas, err := ReadAreas(cfg)
		if err != nil {
			return err
		}
		p.areas = reference.NewAreaSet(areas)
		if server, err = p.serveMetrics(&g); err != nil {
			return err
		}
	}
	if opts.Role.connects() {
		if err := p.connect(&g); err != nil {
			return err
		}
	}
	if opts.Ready != nil {
		opts.Ready(server, brokers[0])
	}
	err = g.Run()
	log.Info("stopped", "role", opts.Role.String())
	return err
}

// BrokerConfig is the embedded broker of cfg: its address, its log under
// the data directory, and the topics' bounds.
func BrokerConfig(cfg *Config) kafka.BrokerConfig {
	return kafka.BrokerConfig{
		Listen:           cfg.Kafka.Embedded.Listen,
		DataDir:          filepath.Join(cfg.DataDir, "kafka"),
		Partitions:       cfg.Kafka.Partitions,
		SyncWrites:       cfg.Kafka.Embedded.SyncWrites,
		SegmentBytes:     cfg.Kafka.SegmentBytes,
		RetentionMs:      cfg.Kafka.Retention.Milliseconds(),
		RetentionBytes:   cfg.Kafka.RetentionBytes,
		CleanerBackoffMs: 5 * 60 * 1000,
	}
}

// serve opens the database, brings its tables up to date, and adds the
// loader, the scheduler and the API server to g. It returns the server's
// address.
func (p *Pipeline) serve(ctx context.Context, g *run.Group) (string, error) {
	cfg, log := p.cfg, p.opts.Log
	var err error
	opts := cfg.StoreOptions()
	opts.Log = log
	p.store, err = store.Open(ctx, filepath.Join(cfg.DataDir, "yiwang.duckdb"), opts)
	if err != nil {
		return "", err
	}
	if err := p.store.MigrateSchemas(ctx, p.registry); err != nil {
		return "", err
	}
	if p.areas, err = reference.Load(ctx, referenceFiles(cfg), p.store); err != nil {
		return "", err
	}
	if _, err := reference.LoadCalendar(ctx, referenceFiles(cfg), p.store); err != nil {
		return "", err
	}
	catalog, err := queries.LoadEmbedded(p.registry)
	if err != nil {
		return "", err
	}
	if err := queries.Migrate(ctx, p.store); err != nil {
		return "", err
	}
	if err := deliver.Migrate(ctx, p.store); err != nil {
		return "", err
	}
	if err := catalog.Check(ctx, p.store.DB()); err != nil {
		return "", err
	}
	if err := queries.SyncThresholds(ctx, p.store.DB(), catalog); err != nil {
		return "", err
	}
	auditLog, err := audit.Open(ctx, p.store)
	if err != nil {
		return "", err
	}
	tokens, err := p.tokens(ctx)
	if err != nil {
		return "", err
	}
	pruneCtx, stopPruning := context.WithCancel(ctx)
	g.Add(func() error { pruneAudit(pruneCtx, auditLog, cfg.API.AuditRetention, log); return nil }, func(error) { stopPruning() })
	queries.ExportModes(ctx, p.store.DB(), p.metrics)
	g.Add(func() error { exportDuckDBMemory(pruneCtx, p.store, p.metrics); return nil }, func(error) { stopPruning() })

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	p.ln = ln // closed by p.close if the group never runs
	loaderUp := make(chan struct{})
	locks := &queries.QueryLocks{} // one run of a query at a time, scheduled or asked for
	srv := api.NewServer(api.New(api.Config{
		Store: p.store, Registry: p.registry, Metrics: p.metrics,
		DeadLetters: deadLetters{client: p.client, replayer: &connectors.Replayer{Client: p.client, Producer: p.writer, Maps: p.maps,
			Registry: p.registry, Areas: p.areas, Key: p.opts.PIIKey, Now: time.Now}},
		Indicators: indicators{db: p.store.DB(), catalog: catalog, locks: locks},
		Modes:      modes{db: p.store.DB(), producer: p.writer},
		Feedback:   feedback{db: p.store.DB(), producer: p.writer},
		Files:      newFiles(cfg),
		Catalog:    catalog,
		Sources: &sourcesInfo{cfg: cfg, client: p.client, store: p.store, registry: p.registry,
			dead: deadLetters{client: p.client}},
		AdminToken: p.opts.AdminToken, Tokens: tokens, MetricsToken: cfg.API.MetricsToken, Audit: auditLog,
		RateLimit: api.RateLimit{PerSecond: cfg.API.RateLimit.PerSecond, Burst: cfg.API.RateLimit.Burst},
		Listen:    ln.Addr().String(),
		Ready: func() bool {
			select {
			case <-loaderUp:
				return true
			default:
				return false
			}
		},
	}))
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return "", err
	}
	srv.TLSConfig = tlsCfg
	stopServing := make(chan struct{})
	g.Add(func() error {
		served := make(chan error, 1)
		scheme := "http://"
		if tlsCfg != nil {
			scheme = "https://"
			go func() { served <- srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { served <- srv.Serve(ln) }()
		}
		log.Info("serving", "addr", scheme+ln.Addr().String())
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-stopServing:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}, func(error) { close(stopServing) })

	ld := &loader.Loader{Log: p.client, Tables: loader.DuckDB(p.store), Registry: p.registry, Areas: p.areas, Producer: p.writer,
		Metrics: p.metrics, BatchSize: cfg.Loader.BatchSize, BatchWait: cfg.Loader.BatchWait, Writers: cfg.Loader.Writers, FetchBudget: cfg.Memory.fetch(), Group: "yiwang-loader." + cfg.Name,
		Now: time.Now, Logger: log}
	var refresher *queries.Refresher
	if !p.opts.NoScheduler {
		refresher = &queries.Refresher{DB: p.store.DB(), Catalog: catalog, Metrics: p.metrics, Log: log, Locks: locks}
		ld.Changed = refresher.Changed
	}
	// The loader's context outlives ctx: interrupted, it still commits
	// what it consumed.
	loaderCtx, stopLoader := context.WithCancel(context.WithoutCancel(ctx))
	g.Add(func() error {
		close(loaderUp)
		err := ld.Run(loaderCtx)
		if err != nil {
			log.Error("loader stopped", "err", err)
		}
		return err
	}, func(error) { stopLoader() })

	for _, a := range []applier{modeApplier(p.client, p.store.DB(), p.metrics, log), feedbackApplier(p.client, p.store.DB(), log)} {
		actx, stop := context.WithCancel(context.WithoutCancel(ctx))
		g.Add(func() error { return a.run(actx) }, func(error) { stop() })
	}

	// Exactly one replica leads: the member of the group yiwang-leader.<name>
	// that the group gives LeaderTopic's partition. The leader is the one
	// to perform side effects that must not happen twice.
	leadCtx, stopLeading := context.WithCancel(context.WithoutCancel(ctx))
	g.Add(func() error {
		return p.client.Lead(leadCtx, "yiwang-leader."+cfg.Name, kafka.LeadOptions{Log: log}, func(leading bool) {
			if leading != p.leading.Swap(leading) {
				log.Info("leadership", "leading", leading)
			}
			v := 0.0
			if leading {
				v = 1
			}
			p.metrics.Leader.Set(v)
		})
	}, func(error) { stopLeading() })

	// The leader sends the anomalies' changes to their receivers: the topic
	// yiwang.anomaly.v1 always, and the pipeline file's.
	outbox := &deliver.Outbox{DB: p.store.DB(), Receivers: p.receivers(ln.Addr().String()), Leading: p.leading.Load, Metrics: p.metrics, Log: log}
	deliverCtx, stopDelivery := context.WithCancel(ctx)
	g.Add(func() error { return outbox.Run(deliverCtx) }, func(error) { stopDelivery() })

	if !p.opts.NoScheduler {
		sched := &queries.Scheduler{DB: p.store.DB(), Catalog: catalog, Metrics: p.metrics, Log: log, Now: time.Now, ModePoll: p.opts.ModePoll, Locks: locks}
		schedCtx, stopScheduler := context.WithCancel(ctx)
		g.Add(func() error { return sched.Run(schedCtx) }, func(error) { stopScheduler() })
		refreshCtx, stopRefresher := context.WithCancel(ctx)
		g.Add(func() error { return refresher.Run(refreshCtx) }, func(error) { stopRefresher() })
	}
	return ln.Addr().String(), nil
}

// receivers are the anomaly receivers: the topic, and those of the
// pipeline file (checked by Parse). api is the API's address, which the
// alerts link to.
func (p *Pipeline) receivers(api string) []deliver.Receiver {
	out := []deliver.Receiver{&deliver.KafkaTopic{Receiver: "kafka", Producer: p.writer}}
	for _, am := range p.cfg.Anomalies.Alertmanagers {
		out = append(out, &deliver.Alertmanager{Receiver: am.Name, URL: am.URL, Timeout: am.Timeout, GeneratorURL: "http://" + api})
	}
	for _, wh := range p.cfg.Anomalies.Webhooks {
		r, err := deliver.NewWebhook(wh.Name, wh.URL, wh.Secret)
		if err != nil {
			continue // Parse refused it already
		}
		r.Timeout = wh.Timeout
		out = append(out, r)
	}
	return out
}

// serveMetrics adds to g, for a process that does not serve the API, a
// listener on cfg.Listen with /metrics and /healthz only, and returns its
// address: the connectors' freshness and failures are scraped there.
func (p *Pipeline) serveMetrics(g *run.Group) (string, error) {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", p.cfg.Listen, err)
	}
	p.ln = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.Registry, promhttp.HandlerOpts{Registry: p.metrics.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve metrics: %w", err)
		}
		return nil
	}, func(error) { _ = srv.Close() })
	return ln.Addr().String(), nil
}

// ConnectTopic's partitions stand for the sources: a source is run by the
// connect member (of the group yiwang-connect.<name>) that holds the
// partition its name hashes to, so that each runs in one process at a
// time however many connect processes run.
const (
	ConnectTopic      = "yiwang.connect"
	connectPartitions = 64
)

// sourcePartition is the partition of ConnectTopic that stands for source.
func sourcePartition(source string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(source))
	return int(h.Sum32() % connectPartitions)
}

// connect adds the connectors to g, as one actor that shares the sources
// with every other connecting process through the group
// yiwang-connect.<name>: for each generation of the group it runs the
// sources whose partitions it holds, with their cursors read again from
// Kafka (another process may have moved them), until the generation ends.
func (p *Pipeline) connect(g *run.Group) error {
	runners, err := p.runners()
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	log := p.opts.Log
	g.Add(func() error {
		defer func() {
			for _, r := range runners {
				if c, ok := r.Source.(io.Closer); ok {
					if err := c.Close(); err != nil {
						log.Warn("close source", "source", r.Name, "err", err)
					}
				}
			}
		}()
		return p.client.Share(ctx, "yiwang-connect."+p.cfg.Name, ConnectTopic, kafka.GroupOptions{Log: log}, nil, func(gctx context.Context, parts []int) {
			held := map[int]bool{}
			for _, pt := range parts {
				held[pt] = true
			}
			var mine []*connectors.Runner
			for _, r := range runners {
				on := held[sourcePartition(r.Name)]
				v := 0.0
				if on {
					v = 1
					mine = append(mine, r)
				}
				p.metrics.ConnectorAssigned.WithLabelValues(r.Name).Set(v)
			}
			if len(mine) == 0 {
				<-gctx.Done()
				return
			}
			state, err := connectors.LoadState(gctx, p.client, p.writer)
			for err != nil && gctx.Err() == nil {
				log.Warn("read the connectors' cursors; retrying", "err", err)
				select {
				case <-gctx.Done():
				case <-time.After(time.Second):
				}
				state, err = connectors.LoadState(gctx, p.client, p.writer)
			}
			if gctx.Err() != nil {
				return
			}
			names := make([]string, len(mine))
			var wg sync.WaitGroup
			for i, r := range mine {
				names[i] = r.Name
				r.State = state
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = r.Run(gctx)
				}()
			}
			log.Info("running sources", "sources", names)
			wg.Wait()
			for _, r := range mine {
				p.metrics.ConnectorAssigned.WithLabelValues(r.Name).Set(0)
			}
		})
	}, func(error) { stop() })
	return nil
}

// tokens are the API's tokens: the pipeline file's and the command's,
// each checked against the reference tables, so that a token granting an
// area that does not exist refuses the start instead of seeing nothing.
func (p *Pipeline) tokens(ctx context.Context) ([]api.Token, error) {
	tokens := append(p.cfg.apiTokens(), p.opts.Tokens...)
	var probs Problems
	for i, t := range tokens {
		if _, err := queries.ResolveScope(ctx, p.store.DB(), t.Areas); err != nil {
			if i < len(p.cfg.API.Tokens) {
				probs = append(probs, p.cfg.problem(err.Error()+"; the reference tables (reference.areas, reference.gov_units) list them", "api", "tokens", i, "areas"))
				continue
			}
			return nil, fmt.Errorf("token %s: %w", t.Name, err)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return tokens, nil
}

// exportDuckDBMemory sets yiwang_duckdb_memory_bytes and
// yiwang_allocator_bytes every 15 s until ctx ends.
func exportDuckDBMemory(ctx context.Context, st *store.Store, m *metrics.Metrics) {
	for {
		if mem, err := st.Memory(ctx); err == nil {
			for tag, n := range mem {
				m.DuckDBMemory.WithLabelValues(tag).Set(float64(n))
			}
		}
		mem, _ := store.AllocatorMemory() // what it could read
		for k, n := range mem {
			allocator, stat, _ := strings.Cut(k, "_")
			m.AllocatorMemory.WithLabelValues(allocator, stat).Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(15 * time.Second):
		}
	}
}

// pruneAudit deletes the audit log's rows older than retention, at start
// and then hourly, until ctx ends.
func pruneAudit(ctx context.Context, l *audit.Log, retention time.Duration, log *slog.Logger) {
	for {
		if n, err := l.Prune(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Warn("prune the audit log", "err", err)
		} else if n > 0 {
			log.Info("audit log pruned", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
