package pipelines

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"
	"github.com/yiwang-gov/yiwang/internal/deliver"
	"github.com/yiwang-gov/yiwang/internal/reference"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/connectors/mapping"
	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/queries"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Options are what a command adds to a config.
type Options struct {
	// AdminToken is the bearer token of the administrator's routes
	// (POST /api/v1/sql...); empty closes them.
	AdminToken string
	// Tokens are API tokens besides the pipeline file's (the demo's).
	Tokens []api.Token
	// Ready, if set, is called once everything runs, with the server's
	// address (for RoleConnect, that of its /metrics) and the broker's.
	Ready func(serverAddr, brokerAddr string)
	// Role is what the process runs (default RoleAll).
	Role Role
	// NoScheduler computes no indicators.
	NoScheduler bool
	// ModePoll is how often the scheduler reads the areas' modes
	// (default 15 s).
	ModePoll time.Duration
	// PIIKey makes the pseudonyms of personal fields; a source whose
	// schema has x-pii hmac fields refuses to start without it.
	PIIKey *pii.Key
	Log    *slog.Logger
}

// Pipeline is a running deployment.
type Pipeline struct {
	cfg      *Config
	opts     Options
	registry *schemas.Registry
	metrics  *metrics.Metrics
	broker   *kafka.Broker
	client   *kafka.Client
	writer   *kafka.Writer
	store    *store.Store
	areas    reference.AreaSet
	brokers  []string                    // the pipeline's own cluster, the embedded broker's address when it runs one
	maps     map[string]*mapping.Mapping // by source, for sources with a map:
	ln       net.Listener                // the API's, once serve listens
	leading  atomic.Bool                 // this replica leads (see serve)
}

// compileMaps compiles the mapping of every source that has one.
func (p *Pipeline) compileMaps() error {
	p.maps = map[string]*mapping.Mapping{}
	for _, sc := range p.cfg.Sources {
		if sc.Map == nil {
			continue
		}
		schema, ok := p.registry.Get(sc.Schema)
		if !ok {
			return fmt.Errorf("source %s: unknown schema %q", sc.Name, sc.Schema)
		}
		m, errs := mapping.Compile(*sc.Map, schema)
		if len(errs) > 0 {
			return fmt.Errorf("source %s: map.%s: %s (yiwang check lists every problem)", sc.Name, errs[0].Field, errs[0].Msg)
		}
		p.maps[sc.Name] = m
	}
	return nil
}

func (p *Pipeline) close() {
	if p.ln != nil {
		_ = p.ln.Close() // closed already when the server ran
	}
	if p.writer != nil {
		_ = p.writer.Close()
	}
	if p.client != nil {
		p.client.Close()
	}
	if p.store != nil {
		if err := p.store.Close(); err != nil {
			p.opts.Log.Error("close database", "err", err)
		}
	}
	if p.broker != nil {
		p.broker.Close()
	}
}

func (p *Pipeline) runners() (_ []*connectors.Runner, err error) {
	var made []*connectors.Runner
	defer func() {
		if err == nil {
			return
		}
		for _, r := range made { // the sources made before the one that failed
			if c, ok := r.Source.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}()
	for _, sc := range p.cfg.Sources {
		if !sc.On() {
			p.opts.Log.Info("source disabled in the pipeline file", "source", sc.Name)
			continue
		}
		schema, _ := p.registry.Get(sc.Schema)
		if f := connectors.PersonalFields(schema); len(f) > 0 && p.opts.PIIKey == nil {
			return nil, fmt.Errorf("source %s: schema %s has personal fields (%s) and no pseudonym key: set YIWANG_PII_KEY to 32 or more random bytes in hex or base64 (and YIWANG_PII_KEY_VERSION)",
				sc.Name, schema.Name, strings.Join(f, ", "))
		}
		t, _ := connectorTypeOf(sc.Type) // the config's check refused unknown types
		src, err := t.build(sc, schema, buildEnv{brokers: p.brokers, log: p.opts.Log})
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		made = append(made, &connectors.Runner{Name: sc.Name, Schema: schema, Source: src, Every: sc.Every, Map: p.maps[sc.Name],
			Producer: p.writer, Areas: p.areas, Key: p.opts.PIIKey, Metrics: p.metrics, Now: time.Now, Log: p.opts.Log})
	}
	return made, nil
}

// files serves the drop folders' reports to the API, from a cache per
// folder.
type files struct {
	names  []string                         // file-drop sources in config order
	caches map[string]*filedrop.ReportCache // by source
}

// newFiles returns the report reader of cfg's file-drop sources, or nil
// (the routes answer 404) when it has none.
func newFiles(cfg *Config) api.FileService {
	f := files{caches: map[string]*filedrop.ReportCache{}}
	for _, s := range cfg.Sources {
		if s.Type == "filedrop" && s.File != nil {
			f.names = append(f.names, s.Name)
			f.caches[s.Name] = filedrop.NewReportCache(s.File.Dir)
		}
	}
	if len(f.names) == 0 {
		return nil
	}
	return f
}

func (f files) sources(source string) ([]string, error) {
	if source == "" {
		return f.names, nil
	}
	if _, ok := f.caches[source]; !ok {
		return nil, fmt.Errorf("no file-drop source %q; the file-drop sources are %s", source, strings.Join(f.names, ", "))
	}
	return []string{source}, nil
}

func (f files) Reports(_ context.Context, source string) ([]api.FileReport, error) {
	names, err := f.sources(source)
	if err != nil {
		return nil, err
	}
	var out []api.FileReport
	for _, n := range names {
		reps, err := f.caches[n].Summaries()
		if errors.Is(err, fs.ErrNotExist) {
			continue // the folder is made at the first poll
		}
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", n, err)
		}
		for _, r := range reps {
			out = append(out, api.FileReport{Source: n, Report: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Finished.After(out[j].Finished) })
	return out, nil
}

func (f files) Report(ctx context.Context, source, file string) (api.FileReport, bool, error) {
	reps, err := f.Reports(ctx, source)
	if err != nil {
		return api.FileReport{}, false, err
	}
	for _, r := range reps { // newest first
		if r.StoredAs != file && r.File != file {
			continue
		}
		rep, ok, err := f.caches[r.Source].Report(r.StoredAs)
		return api.FileReport{Source: r.Source, Report: rep}, ok, err
	}
	return api.FileReport{}, false, nil
}

// indicators serves the API's recomputation route.
type indicators struct {
	db      *sql.DB
	catalog *queries.Catalog
	locks   *queries.QueryLocks // the scheduler's: a run asked for waits for a scheduled one of the same query
}

func (i indicators) Run(ctx context.Context, names []string, from, to time.Time) (map[string]queries.Result, error) {
	sel := i.catalog.Queries()
	if len(names) > 0 {
		sel = sel[:0]
		for _, n := range names {
			q, ok := i.catalog.Get(n)
			if !ok {
				return nil, fmt.Errorf("no indicator %q; yiwang indicators list shows them", n)
			}
			sel = append(sel, q)
		}
	}
	out := map[string]queries.Result{}
	now := time.Now()
	for _, q := range sel {
		unlock := i.locks.Lock(q.Name)
		res, err := queries.Run(ctx, i.db, q, from, minTime(to, now), fmt.Sprintf("%s/manual/%s", q.Name, now.In(calendar.Zone).Format("20060102T150405")), now)
		unlock()
		if err != nil {
			return out, fmt.Errorf("%s: %w", q.Name, err)
		}
		out[q.Name] = res
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// deadLetters serves the API's dead-letter routes.
type deadLetters struct {
	client   *kafka.Client
	replayer *connectors.Replayer
}

func (d deadLetters) List(ctx context.Context, f deadletter.Filter) ([]deadletter.Record, error) {
	return deadletter.Read(ctx, d.client, f)
}

func (d deadLetters) Replay(ctx context.Context, f deadletter.Filter, dryRun bool) (connectors.ReplayResult, error) {
	return d.replayer.Replay(ctx, f, dryRun)
}

// Topics returns every topic the pipeline needs, with the retention and
// segment settings of the config (the embedded broker enforces retention
// only on topics that set it).
func Topics(cfg *Config, reg *schemas.Registry) []kafka.Topic {
	bounded := map[string]string{
		"segment.bytes":   fmt.Sprint(cfg.Kafka.SegmentBytes),
		"retention.ms":    fmt.Sprint(cfg.Kafka.Retention.Milliseconds()),
		"retention.bytes": fmt.Sprint(cfg.Kafka.RetentionBytes),
	}
	var out []kafka.Topic
	for _, sc := range reg.All() {
		out = append(out, kafka.Topic{Name: sc.Topic, Partitions: cfg.Kafka.Partitions, Configs: bounded})
	}
	out = append(out,
		kafka.Topic{Name: deadletter.Topic, Partitions: 1, Configs: bounded},
		kafka.Topic{Name: deliver.Topic, Partitions: 1, Configs: bounded},
		kafka.Topic{Name: connectors.StateTopic, Partitions: 1, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": fmt.Sprint(cfg.Kafka.SegmentBytes)}},
		kafka.Topic{Name: ModesTopic, Partitions: 1, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": fmt.Sprint(cfg.Kafka.SegmentBytes)}},
		kafka.Topic{Name: FeedbackTopic, Partitions: 1, Configs: map[string]string{
			"cleanup.policy": "compact", "segment.bytes": fmt.Sprint(cfg.Kafka.SegmentBytes)}},
		kafka.Topic{Name: kafka.LeaderTopic, Partitions: 1},
		kafka.Topic{Name: ConnectTopic, Partitions: connectPartitions},
	)
	return out
}

// referenceFiles are the reference files cfg names, read through it.
func referenceFiles(cfg *Config) reference.Files {
	return reference.Files{Areas: cfg.Reference.Areas, GovUnits: cfg.Reference.GovUnits, SLA: cfg.Reference.SLA,
		Holidays: cfg.Reference.Holidays, Read: cfg.ReadFile}
}

// ReadAreas reads the areas reference file named in cfg.
func ReadAreas(cfg *Config) ([]store.Area, error) { return reference.ReadAreas(referenceFiles(cfg)) }

// sourcesInfo serves GET /api/v1/sources: the pipeline file's sources,
// when each connector last handed over new records (its cursor's last
// move, from the state topic), its table's rows and newest event, and the
// reasons of its dead letters among the newest thousand. The answer is
// kept for 30 s: the state topic is read whole.
type sourcesInfo struct {
	cfg      *Config
	client   *kafka.Client
	store    *store.Store
	registry *schemas.Registry
	dead     deadLetters

	mu   sync.Mutex
	at   time.Time
	last []api.Source
}

// sourcesTTL is how long an answer of GET /api/v1/sources is kept.
const sourcesTTL = 30 * time.Second

func (s *sourcesInfo) Sources(ctx context.Context) ([]api.Source, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil && time.Since(s.at) < sourcesTTL {
		return s.last, nil
	}
	state, err := connectors.LoadState(ctx, s.client, nil)
	if err != nil {
		return nil, err
	}
	tables, err := s.store.Tables(ctx, s.registry)
	if err != nil {
		return nil, err
	}
	byTable := map[string]store.TableInfo{}
	for _, t := range tables {
		byTable[t.Table] = t
	}
	dls, err := s.dead.List(ctx, deadletter.Filter{Limit: 1000})
	if err != nil {
		return nil, err
	}
	reasons := map[string]map[string]int{}
	for _, d := range dls {
		if reasons[d.Source] == nil {
			reasons[d.Source] = map[string]int{}
		}
		reasons[d.Source][d.Reason]++
	}
	out := make([]api.Source, 0, len(s.cfg.Sources))
	for _, src := range s.cfg.Sources {
		a := api.Source{Name: src.Name, Type: src.Type, Schema: src.Schema, Enabled: src.On(), DeadLetters: reasons[src.Name]}
		if a.DeadLetters == nil {
			a.DeadLetters = map[string]int{}
		}
		if sc, ok := s.registry.Get(src.Schema); ok {
			a.Table = sc.Table
			t := byTable[sc.Table]
			a.Rows, a.NewestEvent = t.Rows, t.NewestEvent
		}
		if at := state.MovedAt(src.Name); !at.IsZero() {
			a.LastMovedAt = &at
		}
		out = append(out, a)
	}
	s.last, s.at = out, time.Now()
	return out, nil
}
