// Package pipelines reads a pipeline definition (one YAML file) and runs its
// roles: the embedded broker when no brokers are given, the connectors, the
// loader that turns the record topics into DuckDB tables, and the server.
package pipelines

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/connectors/httpapi"
	"github.com/yiwang-gov/yiwang/connectors/kafkain"
	"github.com/yiwang-gov/yiwang/connectors/mapping"
	"github.com/yiwang-gov/yiwang/connectors/sqldb"
	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/deliver"
	"github.com/yiwang-gov/yiwang/internal/diag"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

//go:embed newarea.yaml newarea/*.csv
var embedded embed.FS

// DemoConfig returns the embedded demo pipeline (newarea.yaml) and the
// folder its relative reference paths resolve against.
func DemoConfig() ([]byte, string) {
	b, _ := embedded.ReadFile("newarea.yaml")
	return b, "embedded:"
}

// Config is one pipeline definition.
type Config struct {
	Name      string          `yaml:"name"`
	DataDir   string          `yaml:"data_dir"`
	Listen    string          `yaml:"listen"`
	Kafka     KafkaConfig     `yaml:"kafka"`
	Reference ReferenceConfig `yaml:"reference"`
	Loader    LoaderConfig    `yaml:"loader"`
	Memory    MemoryConfig    `yaml:"memory"`
	CPU       CPUConfig       `yaml:"cpu"`
	Anomalies AnomaliesConfig `yaml:"anomalies"`
	API       APIConfig       `yaml:"api"`
	Sources   []SourceConfig  `yaml:"sources"`

	file string     // where it was read from, for messages
	dir  string     // base of relative paths; "embedded:" for the demo
	root *yaml.Node // for line numbers
}

// APIConfig is who may use the HTTP API and how its reads of personal
// data are kept.
type APIConfig struct {
	// Tokens are the API's tokens, each kept as the SHA-256 of its secret.
	Tokens []TokenConfig `yaml:"tokens"`
	// MetricsToken puts /metrics behind a token (Prometheus then sends
	// one: authorization.credentials in its scrape config).
	MetricsToken bool `yaml:"metrics_token"`
	// AuditRetention is how long the audit log keeps a row (default 180
	// days: the Cybersecurity Law's six months for network logs).
	AuditRetention time.Duration `yaml:"audit_retention"`
	// RateLimit bounds each token's requests a second (default 50) and at
	// once (burst, default 100); YIWANG_ADMIN_TOKEN is not bounded.
	RateLimit struct {
		PerSecond float64 `yaml:"per_second"`
		Burst     int     `yaml:"burst"`
	} `yaml:"rate_limit"`
	// TLS serves the API over HTTPS with this certificate and key (PEM
	// files, relative to the pipeline file); empty serves plain HTTP.
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
}

// tlsConfig is the API's TLS configuration, nil without one.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.API.TLS.Cert == "" && c.API.TLS.Key == "" {
		return nil, nil
	}
	cert, err := c.ReadFile(c.API.TLS.Cert)
	if err != nil {
		return nil, err
	}
	key, err := c.ReadFile(c.API.TLS.Key)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("the certificate and key: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}

// TokenConfig is one API token: who, the SHA-256 of its secret in hex
// (sha256sum of the secret; never the secret itself), its role and the
// area codes or responsibility units it may see ("district": all).
type TokenConfig struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Role   string   `yaml:"role"`
	Areas  []string `yaml:"areas"`
}

// DefaultAuditRetention is how long the audit log keeps a row.
const DefaultAuditRetention = 180 * 24 * time.Hour

// KafkaConfig says where Kafka is and how yiwang's topics are created.
type KafkaConfig struct {
	// Brokers of an Apache Kafka cluster; empty starts the embedded broker.
	Brokers []string `yaml:"brokers"`
	// Partitions of each record topic yiwang creates.
	Partitions int `yaml:"partitions"`
	// SegmentBytes, Retention and RetentionBytes (per partition) are set on
	// every topic yiwang creates. They bound the embedded broker's memory
	// and disk; they also bound how far back `rebuild` can replay.
	SegmentBytes   int64         `yaml:"segment_bytes"`
	Retention      time.Duration `yaml:"retention"`
	RetentionBytes int64         `yaml:"retention_bytes"`
	Embedded       struct {
		Listen     string `yaml:"listen"`
		SyncWrites bool   `yaml:"sync_writes"`
	} `yaml:"embedded"`
}

// ReferenceConfig names the reference-data files (CSV with headers).
type ReferenceConfig struct {
	Areas    string `yaml:"areas"`     // code,name,level,parent_code
	GovUnits string `yaml:"gov_units"` // unit_id,unit_type,parent_id,area_code,name
	// SLA is the category time-limit table the indicators judge deadlines
	// by: platform,category,urgency,work_hours.
	SLA string `yaml:"sla"`
	// Holidays are further calendar files (date,kind,holiday) a deployment
	// adds to the official calendar built in, e.g. a year published after
	// the release.
	Holidays []string `yaml:"holidays"`
}

// LoaderConfig tunes the loader's batches.
type LoaderConfig struct {
	// BatchSize is the most records committed at once.
	BatchSize int `yaml:"batch_size"`
	// BatchWait is the longest a record waits for its batch: the freshness
	// bound (event to queryable) under light load.
	BatchWait time.Duration `yaml:"batch_wait"`
	// Writers is how many DuckDB connections load at once, each owning a
	// share of the partitions.
	Writers int `yaml:"writers"`
}

// receiverRE is the form of a receiver's name.
var receiverRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// AnomaliesConfig says where the anomalies the rules flag are sent.
type AnomaliesConfig struct {
	// Webhooks receive every change of every anomaly (opened, updated,
	// resolved) as a signed Standard Webhook, in order, from the leading
	// serve replica.
	Webhooks []WebhookConfig `yaml:"webhooks"`
	// Alertmanagers receive them as alerts (API v2), for routing to WeCom
	// or DingTalk with a district's own Alertmanager.
	Alertmanagers []AlertmanagerConfig `yaml:"alertmanagers"`
}

// AlertmanagerConfig is one Alertmanager.
type AlertmanagerConfig struct {
	Name string `yaml:"name"`
	// URL is its base URL, e.g. http://127.0.0.1:9093.
	URL string `yaml:"url"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// WebhookConfig is one webhook receiver.
type WebhookConfig struct {
	// Name names the receiver in metrics and in its delivery position
	// (renaming it sends every change again).
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret is "whsec_" and the base64 of the signing key; give it from
	// the environment (${VAR}), never in the file.
	Secret string `yaml:"secret"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// MemoryConfig bounds the process's memory, as sizes such as "256MiB" or
// "1GB". What they leave out (the embedded broker's batch index, the
// connectors' pages in flight) is small and bounded by the other settings.
type MemoryConfig struct {
	// DuckDB is DuckDB's memory limit: its buffer pool (table blocks,
	// indexes, data not yet checkpointed, query state). Past it, queries
	// spill to the temporary directory or fail with an out-of-memory
	// error. Default: half of the memory of the machine or cgroup.
	DuckDB string `yaml:"duckdb"`
	// Checkpoint is the size of DuckDB's write-ahead log at which it
	// writes the new rows into the database file (default 48MiB,
	// store.DefaultCheckpointBytes). Until then they are held in memory,
	// within the limit above; writers wait while a checkpoint runs, longer
	// the larger it is.
	Checkpoint string `yaml:"checkpoint"`
	// CheckpointEvery also checkpoints once the log holds rows written
	// this long ago (default: only at the size above). A slow stream
	// otherwise keeps its rows in memory, five to six times their size in
	// the log, until the log reaches that size.
	CheckpointEvery time.Duration `yaml:"checkpoint_every"`
	// Go is the Go heap's soft limit (as GOMEMLIMIT, which overrides it):
	// the garbage collector runs more often as the heap nears it, and
	// returns freed memory to the system sooner. Default: none.
	Go string `yaml:"go"`
	// GoGC is how far the Go heap may grow past what was live after the
	// last collection before the next, in percent (as GOGC, which
	// overrides it; default 100). Lower holds less memory at rest for a
	// little more collection work; the limit above is the ceiling, and a
	// limit near the live heap makes the collector run without pause.
	GoGC int `yaml:"go_gc"`
	// Fetch is the most bytes the loader asks the broker for at once, over
	// all partitions (default 64 MiB; each partition's fetch gets its
	// share, between 64 KiB and 2 MiB).
	Fetch string `yaml:"fetch"`
}

// CPUConfig shares the machine's cores between Go and DuckDB.
type CPUConfig struct {
	// GoProcsPerCore sets Go's Ps (GOMAXPROCS, which overrides it) to this
	// many per core. More Ps than cores lets the operating system's finer
	// time slices interleave a short request (/healthz, a dashboard's
	// page) with the loader's long goroutines and DuckDB's calls, each
	// of which holds a P while it runs. Default: Go's own (one per core).
	GoProcsPerCore float64 `yaml:"go_procs_per_core"`
	// DuckDBThreadsPerCore sets DuckDB's worker threads to this many per
	// core, at least one. Fewer threads than cores leave cores to the
	// loader and the API while a query runs. Default: DuckDB's own (one
	// per core).
	DuckDBThreadsPerCore float64 `yaml:"duckdb_threads_per_core"`
}

// startProcs is Go's GOMAXPROCS as the process started.
var startProcs = runtime.GOMAXPROCS(0)

// cores is the cores the process may use: Go's default GOMAXPROCS (the
// CPUs of its affinity mask, within its cgroup's CPU limit). When the
// environment sets GOMAXPROCS, Go no longer reads the cgroup's limit, and
// this is the CPUs of the affinity mask.
func cores() int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.NumCPU()
	}
	return startProcs
}

// goProcs is Go's Ps, 0 for Go's default.
func (c CPUConfig) goProcs() int { return perCore(c.GoProcsPerCore) }

// duckDBThreads is DuckDB's threads, 0 for DuckDB's default.
func (c CPUConfig) duckDBThreads() int { return perCore(c.DuckDBThreadsPerCore) }

func perCore(f float64) int {
	if f <= 0 {
		return 0
	}
	return max(1, int(math.Round(f*float64(cores()))))
}

// ApplyRuntime sets the Go runtime's memory limit, GOGC and GOMAXPROCS
// as the memory: and cpu: sections say (where the environment does not),
// and returns what puts back the values before: they are the process's,
// and a process may run several pipelines one after the other (tests,
// bench anomalies).
func (c *Config) ApplyRuntime() (restore func()) {
	var undo []func()
	if n := c.Memory.goLimit(); n > 0 && os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(n)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	if n := c.Memory.GoGC; n > 0 && os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(n)
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if n := c.CPU.goProcs(); n > 0 && os.Getenv("GOMAXPROCS") == "" {
		old := runtime.GOMAXPROCS(n)
		undo = append(undo, func() { runtime.GOMAXPROCS(old) })
	}
	return func() {
		for _, f := range slices.Backward(undo) {
			f()
		}
	}
}

// StoreOptions are the database's options under the file's memory: and
// cpu: sections.
func (c *Config) StoreOptions() store.Options {
	return store.Options{MemoryBytes: c.Memory.duckDB(), CheckpointBytes: c.Memory.checkpoint(),
		CheckpointEvery: c.Memory.CheckpointEvery, Threads: c.CPU.duckDBThreads()}
}

// duckDB is DuckDB's memory limit in bytes, 0 for its default; the sizes
// were checked when the file was read.
func (m MemoryConfig) duckDB() int64 {
	n, _ := ParseSize(m.DuckDB)
	return n
}

// checkpoint is DuckDB's checkpoint threshold in bytes, 0 for the default.
func (m MemoryConfig) checkpoint() int64 {
	n, _ := ParseSize(m.Checkpoint)
	return n
}

// goLimit is the Go heap's soft limit in bytes, 0 for none.
func (m MemoryConfig) goLimit() int64 {
	n, _ := ParseSize(m.Go)
	return n
}

// fetch is the loader's fetch budget in bytes, 0 for its default.
func (m MemoryConfig) fetch() int {
	n, _ := ParseSize(m.Fetch)
	return int(n)
}

// SourceConfig is one connector instance.
type SourceConfig struct {
	Name   string        `yaml:"name"`
	Schema string        `yaml:"schema"`
	Type   string        `yaml:"type"`
	Every  time.Duration `yaml:"every"`
	// Enabled false keeps the source in the file but does not run it
	// (default true), e.g. enabled: ${YIWANG_PROPERTY_SQL:-true}.
	Enabled *bool            `yaml:"enabled"`
	HTTP    *httpapi.Config  `yaml:"http"`
	SQL     *sqldb.Config    `yaml:"sql"`
	File    *filedrop.Config `yaml:"file"`
	Kafka   *kafkain.Config  `yaml:"kafka"`
	// Map turns the source system's own record shape into the schema's
	// (connectors/mapping); nil when the source delivers the schema's form.
	Map *mapping.Config `yaml:"map"`
}

// On reports whether the source runs.
func (s SourceConfig) On() bool { return s.Enabled == nil || *s.Enabled }

// Defaults, in one place.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultKafkaListen  = "127.0.0.1:9092"
	DefaultPartitions   = 4
	DefaultSegmentBytes = 16 << 20
	DefaultRetention    = 7 * 24 * time.Hour
	DefaultRetentionB   = 1 << 30
	DefaultBatchSize    = 20000
	DefaultBatchWait    = 200 * time.Millisecond
	DefaultWriters      = 2
	DefaultEvery        = 5 * time.Second
)

func (c *Config) applyDefaults() {
	if c.Name == "" {
		c.Name = "yiwang"
	}
	if c.DataDir == "" {
		c.DataDir = "./yiwang-data"
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Kafka.Partitions == 0 {
		c.Kafka.Partitions = DefaultPartitions
	}
	if c.Kafka.SegmentBytes == 0 {
		c.Kafka.SegmentBytes = DefaultSegmentBytes
	}
	if c.Kafka.Retention == 0 {
		c.Kafka.Retention = DefaultRetention
	}
	if c.Kafka.RetentionBytes == 0 {
		c.Kafka.RetentionBytes = DefaultRetentionB
	}
	if c.Kafka.Embedded.Listen == "" {
		c.Kafka.Embedded.Listen = DefaultKafkaListen
	}
	if c.Loader.BatchSize == 0 {
		c.Loader.BatchSize = DefaultBatchSize
	}
	if c.Loader.BatchWait == 0 {
		c.Loader.BatchWait = DefaultBatchWait
	}
	if c.Loader.Writers == 0 {
		c.Loader.Writers = DefaultWriters
	}
	if c.API.RateLimit.PerSecond == 0 {
		c.API.RateLimit.PerSecond = 50
	}
	if c.API.RateLimit.Burst == 0 {
		c.API.RateLimit.Burst = 2 * int(math.Ceil(c.API.RateLimit.PerSecond))
	}
	if c.API.AuditRetention == 0 {
		c.API.AuditRetention = DefaultAuditRetention
	}
	for i := range c.Sources {
		if c.Sources[i].Every == 0 {
			c.Sources[i].Every = DefaultEvery
		}
	}
}

// Problem is one thing wrong in a config file: where, and what to change.
type Problem = diag.Problem

// Problems are all the problems of a config, reported together.
type Problems = diag.Problems

// LoadFile reads and checks a pipeline file.
func LoadFile(path string, getenv func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, path, filepath.Dir(path), getenv)
}

// Parse decodes a pipeline definition: ${VAR}, ${VAR:-default} and
// ${VAR:?message} are expanded inside scalar values, unknown keys are
// errors, defaults are applied, and every problem is reported with its line.
// dir is the base of relative file paths.
func Parse(raw []byte, file, dir string, getenv func(string) (string, bool)) (*Config, error) {
	cfg, probs := parse(raw, file, dir, getenv)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// parse is Parse, returning the decoded config also when it has problems
// of values (nil only when it could not be decoded), so that yiwang check
// can go on to the checks against the schemas.
func parse(raw []byte, file, dir string, getenv func(string) (string, bool)) (*Config, Problems) {
	doc, probs := diag.ParseYAML(file, string(raw), 0)
	if len(probs) > 0 {
		return nil, probs
	}
	if doc == nil {
		return nil, Problems{{File: file, Msg: "the file is empty"}}
	}
	diag.Walk(doc, "", func(_ string, n *yaml.Node) {
		v, err := Interpolate(n.Value, getenv)
		if err != nil {
			probs = append(probs, Problem{File: file, Line: n.Line, Col: n.Column, Msg: err.Error()})
			return
		}
		if v != n.Value {
			n.Value = v
			if n.Tag == "!!str" || n.Style != 0 {
				n.Tag = ""
				n.Style = 0 // let the target type decide (e.g. a port number)
			}
		}
	})
	probs = append(probs, knownFields(file, doc, reflect.TypeFor[Config](), "")...)
	if len(probs) > 0 {
		return nil, probs
	}
	cfg := &Config{file: file, dir: dir, root: doc}
	if err := doc.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if ok := asTypeError(err, &te); ok {
			for _, e := range te.Errors {
				probs = append(probs, Problem{File: file, Msg: e})
			}
			return nil, fixLines(probs, doc)
		}
		return nil, Problems{{File: file, Msg: err.Error()}}
	}
	probs = cfg.explicitZeros()
	cfg.applyDefaults()
	if probs := append(probs, cfg.validate()...); len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return cfg, probs
	}
	return cfg, nil
}

func asTypeError(err error, target **yaml.TypeError) bool {
	te, ok := err.(*yaml.TypeError) //nolint:errorlint // yaml returns it unwrapped
	if ok {
		*target = te
	}
	return ok
}

// fixLines moves yaml's "line N: msg" into the Problem's position and names
// the field whose value could not be decoded.
func fixLines(ps Problems, doc *yaml.Node) Problems {
	for i, p := range ps {
		line, rest, ok := diag.YAMLLine(p.Msg)
		if !ok {
			continue
		}
		ps[i].Line, ps[i].Col, ps[i].Msg = line, 1, rest
		if tm := yamlType.FindStringSubmatch(rest); tm != nil {
			diag.Walk(doc, "", func(path string, n *yaml.Node) {
				if n.Line == ps[i].Line && n.Value == tm[1] {
					ps[i].Col = n.Column
					ps[i].Msg = fmt.Sprintf("%s: must be %s, got %q", path, typeWords(tm[2]), tm[1])
				}
			})
		}
	}
	return ps
}

var yamlType = regexp.MustCompile("cannot unmarshal !!\\w+ `([^`]*)` into (\\S+)")

func typeWords(goType string) string {
	switch goType {
	case "int", "int64":
		return "a whole number"
	case "time.Duration":
		return "a duration such as 500ms, 5s or 1h"
	case "bool":
		return "true or false"
	case "[]string":
		return "a list"
	}
	return "of type " + goType
}

// explicitZeros reports settings written as 0 (or 0s) where the default
// would otherwise silently replace them.
func (c *Config) explicitZeros() Problems {
	var probs Problems
	zero := func(v any, path ...any) {
		if !c.has(path...) {
			return
		}
		switch x := v.(type) {
		case int:
			if x <= 0 {
				probs = append(probs, c.problem(fmt.Sprintf("must be > 0, got %d", x), path...))
			}
		case int64:
			if x <= 0 {
				probs = append(probs, c.problem(fmt.Sprintf("must be > 0, got %d", x), path...))
			}
		case time.Duration:
			if x <= 0 {
				probs = append(probs, c.problem(fmt.Sprintf("must be > 0, got %q", x), path...))
			}
		}
	}
	zero(c.Kafka.Partitions, "kafka", "partitions")
	zero(c.Kafka.SegmentBytes, "kafka", "segment_bytes")
	zero(c.Kafka.Retention, "kafka", "retention")
	zero(c.Kafka.RetentionBytes, "kafka", "retention_bytes")
	zero(c.Loader.BatchSize, "loader", "batch_size")
	zero(c.Loader.BatchWait, "loader", "batch_wait")
	zero(c.Loader.Writers, "loader", "writers")
	for i, s := range c.Sources {
		zero(s.Every, "sources", i, "every")
	}
	return probs
}

// ParseSize reads a size: a number with an optional unit, B, KB, MB, GB or
// TB (powers of 1000) or KiB, MiB, GiB or TiB (powers of 1024), in any
// case, as in "256MiB", "1.5 GB" or "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(unit)]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: write a number with a unit such as 256MiB or 2GB", s)
	}
	v := f * mult
	if v < 1 || v > 1<<50 || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is out of range: between 1 byte and 1 PiB", s)
	}
	return int64(v), nil
}

// has reports whether the exact path is written in the file.
func (c *Config) has(path ...any) bool {
	_, ok := diag.Find(c.root, path...)
	return ok
}

// knownFields reports mapping keys that the target type does not have.
func knownFields(file string, n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var probs Problems
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		sort.Strings(names)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				probs = append(probs, Problem{File: file, Line: k.Line, Col: k.Column, Msg: fmt.Sprintf("%s: unknown field; known fields are %s", diag.Join(path, k.Value), strings.Join(names, ", "))})
				continue
			}
			probs = append(probs, knownFields(file, n.Content[i+1], ft, diag.Join(path, k.Value))...)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			probs = append(probs, knownFields(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return probs
}

// problem is msg about the field at path, placed at its node (or, when
// the field is missing, at the closest one written).
func (c *Config) problem(msg string, path ...any) Problem {
	n, _ := diag.Find(c.root, path...)
	return Problem{File: c.file, Line: n.Line, Col: n.Column, Msg: diag.Path(path...) + ": " + msg}
}

// checkReceiver checks the name (unique among seen, which it joins), URL
// and timeout of the i-th anomaly receiver of a kind.
func (c *Config) checkReceiver(seen map[string]bool, kind string, i int, name, rawURL string, timeout time.Duration) Problems {
	var probs Problems
	at := func(field string) []any { return []any{"anomalies", kind, i, field} }
	switch {
	case !receiverRE.MatchString(name) || name == "kafka":
		probs = append(probs, c.problem(fmt.Sprintf("%q is not a receiver name; use lower-case letters, digits, - and _ (kafka is the topic's)", name), at("name")...))
	case seen[name]:
		probs = append(probs, c.problem(fmt.Sprintf("%s names another receiver too; give each its own", name), at("name")...))
	}
	seen[name] = true
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		probs = append(probs, c.problem(fmt.Sprintf("%q is not an http(s) URL", rawURL), at("url")...))
	}
	if timeout < 0 {
		probs = append(probs, c.problem(fmt.Sprintf("must be positive, got %s", timeout), at("timeout")...))
	}
	return probs
}

func (c *Config) validate() Problems {
	var probs Problems
	for _, m := range []struct {
		field, v string
		least    int64
	}{{"duckdb", c.Memory.DuckDB, 64 << 20}, {"checkpoint", c.Memory.Checkpoint, 1 << 20}, {"go", c.Memory.Go, 64 << 20},
		{"fetch", c.Memory.Fetch, 1 << 20}} {
		if m.v == "" {
			continue
		}
		if n, err := ParseSize(m.v); err != nil {
			probs = append(probs, c.problem(err.Error(), "memory", m.field))
		} else if n < m.least {
			probs = append(probs, c.problem(fmt.Sprintf("must be at least %d MiB, got %q", m.least>>20, m.v), "memory", m.field))
		}
	}
	for _, f := range []struct {
		field string
		v     float64
	}{{"go_procs_per_core", c.CPU.GoProcsPerCore}, {"duckdb_threads_per_core", c.CPU.DuckDBThreadsPerCore}} {
		if !(f.v >= 0 && f.v <= 16) { // NaN too
			probs = append(probs, c.problem(fmt.Sprintf("must be 0-16 (per core; 0 or absent for the default of 1), got %g", f.v), "cpu", f.field))
		}
	}
	if e := c.Memory.CheckpointEvery; e != 0 && e < 10*time.Second {
		probs = append(probs, c.problem(fmt.Sprintf("must be at least 10s (or absent: only at the size of memory.checkpoint), got %s", e), "memory", "checkpoint_every"))
	}
	if g := c.Memory.GoGC; g < 0 || g > 1000 {
		probs = append(probs, c.problem(fmt.Sprintf("must be 0-1000 (percent; 0 or absent for Go's default of 100), got %d", g), "memory", "go_gc"))
	}
	receivers := map[string]bool{}
	for i, wh := range c.Anomalies.Webhooks {
		probs = append(probs, c.checkReceiver(receivers, "webhooks", i, wh.Name, wh.URL, wh.Timeout)...)
		if _, err := deliver.ParseSecret(wh.Secret); err != nil {
			probs = append(probs, c.problem(err.Error()+`; set it from the environment, e.g. secret: ${YIWANG_WEBHOOK_SECRET}`, "anomalies", "webhooks", i, "secret"))
		}
	}
	for i, am := range c.Anomalies.Alertmanagers {
		probs = append(probs, c.checkReceiver(receivers, "alertmanagers", i, am.Name, am.URL, am.Timeout)...)
	}
	probs = append(probs, c.checkTokens()...)
	if c.Kafka.Partitions > 256 {
		probs = append(probs, c.problem(fmt.Sprintf("must be 1-256, got %d", c.Kafka.Partitions), "kafka", "partitions"))
	}
	if c.Kafka.SegmentBytes > 0 && c.Kafka.SegmentBytes < 1<<20 {
		probs = append(probs, c.problem(fmt.Sprintf("must be at least 1048576 (1 MiB), got %d", c.Kafka.SegmentBytes), "kafka", "segment_bytes"))
	}
	if c.Kafka.Retention > 0 && c.Kafka.Retention < time.Minute {
		probs = append(probs, c.problem(fmt.Sprintf("must be at least 1m, got %q", c.Kafka.Retention), "kafka", "retention"))
	}
	if c.Reference.Areas == "" {
		probs = append(probs, c.problem("is required: the CSV file of area codes (code,name,level,parent_code)", "reference", "areas"))
	}
	names := map[string]int{}
	for i, s := range c.Sources {
		if s.Name == "" {
			probs = append(probs, c.problem("is required", "sources", i, "name"))
		} else if j, dup := names[s.Name]; dup {
			probs = append(probs, c.problem(fmt.Sprintf("%q is also the name of sources[%d]; names must be unique (they key the cursor state)", s.Name, j), "sources", i, "name"))
		}
		names[s.Name] = i
		if s.Schema == "" {
			probs = append(probs, c.problem("is required: the record type this source delivers", "sources", i, "schema"))
		}
		probs = append(probs, c.checkSource(i)...)
	}
	return probs
}

// checkTokens checks the API's tokens: unique names, a SHA-256 in hex, a
// role, areas written as codes.
func (c *Config) checkTokens() Problems {
	var probs Problems
	seen := map[string]bool{}
	if (c.API.TLS.Cert == "") != (c.API.TLS.Key == "") {
		probs = append(probs, c.problem("needs both cert and key (PEM files), or neither for plain HTTP", "api", "tls"))
	} else if _, err := c.tlsConfig(); err != nil {
		probs = append(probs, c.problem(err.Error(), "api", "tls", "cert"))
	}
	if c.API.RateLimit.PerSecond < 0 || c.API.RateLimit.Burst < 0 {
		probs = append(probs, c.problem(fmt.Sprintf("per_second and burst must be positive, got %g and %d", c.API.RateLimit.PerSecond, c.API.RateLimit.Burst), "api", "rate_limit"))
	}
	for i, t := range c.API.Tokens {
		at := func(field string) []any { return []any{"api", "tokens", i, field} }
		switch {
		case !receiverRE.MatchString(t.Name) || t.Name == "admin":
			probs = append(probs, c.problem(fmt.Sprintf("%q is not a token name; use lower-case letters, digits, - and _ (admin is YIWANG_ADMIN_TOKEN's)", t.Name), at("name")...))
		case seen[t.Name]:
			probs = append(probs, c.problem(fmt.Sprintf("%s names another token too; give each its own", t.Name), at("name")...))
		}
		seen[t.Name] = true
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			probs = append(probs, c.problem("must be the SHA-256 of the token in 64 hex digits (printf %s \"$TOKEN\" | sha256sum), never the token itself", at("sha256")...))
		}
		if _, err := api.ParseRole(t.Role); err != nil {
			probs = append(probs, c.problem(err.Error(), at("role")...))
		}
		if len(t.Areas) == 0 {
			probs = append(probs, c.problem(`is required: the area codes or responsibility units the token may see, e.g. [220173002], or [district] for all`, at("areas")...))
		}
		for j, a := range t.Areas {
			if !areaRE.MatchString(a) {
				probs = append(probs, c.problem(fmt.Sprintf("%q is not an area code or unit id; use letters, digits, - and _", a), "api", "tokens", i, "areas", j))
			}
		}
	}
	return probs
}

var areaRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// apiTokens are the pipeline file's tokens, checked, for the API.
func (c *Config) apiTokens() []api.Token {
	out := make([]api.Token, 0, len(c.API.Tokens))
	for _, t := range c.API.Tokens {
		role, _ := api.ParseRole(t.Role)
		var h [32]byte
		b, _ := hex.DecodeString(t.SHA256)
		copy(h[:], b)
		out = append(out, api.Token{Name: t.Name, SHA256: h, Role: role, Areas: t.Areas})
	}
	return out
}

// fieldError is a connector's own configuration problem.
type fieldError = diag.FieldError

// fieldPath is the config path of a connector's field ("tls.mode").
func fieldPath(source int, block, field string) []any {
	path := []any{"sources", source, block}
	for _, f := range strings.Split(field, ".") {
		if f != "" {
			path = append(path, f)
		}
	}
	return path
}

// CheckSchemas reports sources whose schema is unknown, and connector
// settings that do not fit their schema.
func (c *Config) CheckSchemas(reg *schemas.Registry) Problems {
	var probs Problems
	names := reg.Names()
	for i, s := range c.Sources {
		sc, ok := reg.Get(s.Schema)
		if s.Schema != "" && !ok {
			probs = append(probs, c.problem(fmt.Sprintf("unknown schema %q; known: %s", s.Schema, strings.Join(names, ", ")), "sources", i, "schema"))
			continue
		}
		if ok && s.Type == "filedrop" && s.File != nil {
			for _, e := range s.File.CheckSchema(sc) {
				probs = append(probs, c.problem(e.Msg, fieldPath(i, "file", e.Field)...))
			}
		}
		if ok && s.Map != nil {
			if _, errs := mapping.Compile(*s.Map, sc); len(errs) > 0 {
				for _, e := range errs {
					probs = append(probs, c.problem(e.Msg, fieldPath(i, "map", e.Field)...))
				}
			}
		}
	}
	return probs
}

// File returns the path the config was read from.
func (c *Config) File() string { return c.file }

// ReadFile reads a file named in the config, relative to the config's
// folder (or from the binary for the embedded demo).
func (c *Config) ReadFile(name string) ([]byte, error) {
	if c.dir == "embedded:" && !filepath.IsAbs(name) {
		return embedded.ReadFile(filepath.ToSlash(filepath.Clean(name)))
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// Interpolate expands ${VAR}, ${VAR:-default} (default when VAR is unset or
// empty) and ${VAR:?message} (an error when unset or empty) in s. "$$" is a
// literal "$". Every missing variable is reported in one error.
func Interpolate(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var missing []string
	var b bytes.Buffer
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$$") {
			b.WriteByte('$')
			i += 2
			continue
		}
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '{' {
			m := varRef.FindStringSubmatchIndex(s[i:])
			if m == nil || m[0] != 0 {
				return "", fmt.Errorf("malformed variable reference at %q: write ${NAME}, ${NAME:-default} or ${NAME:?message}, or $$ for a literal $", s[i:])
			}
			name := s[i+m[2] : i+m[3]]
			op, arg := "", ""
			if m[4] >= 0 {
				op, arg = s[i+m[4]:i+m[5]], s[i+m[6]:i+m[7]]
			}
			v, ok := getenv(name)
			switch {
			case ok && v != "":
				b.WriteString(v)
			case op == ":-":
				b.WriteString(arg)
			case op == ":?":
				missing = append(missing, fmt.Sprintf("%s (%s)", name, arg))
			case ok:
				// set but empty, no default: empty
			default:
				missing = append(missing, name)
			}
			i += m[1]
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set; set it or give a default with ${NAME:-default}", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

// Check validates a pipeline file, its reference files and the schemas
// (schemaDir, or the built-in ones when empty), and returns every problem.
// When the pipeline's database exists and no process holds it, the schemas
// are also compared with its tables: a change that is not additive and
// optional is refused with the way out.
func Check(file, schemaDir string, getenv func(string) (string, bool)) []error {
	var out []error
	var reg *schemas.Registry
	var err error
	if schemaDir != "" {
		reg, err = schemas.Load(os.DirFS(schemaDir))
	} else {
		reg, err = schemas.LoadEmbedded()
	}
	var sp schemas.Problems
	switch {
	case errors.As(err, &sp):
		for _, p := range sp {
			if schemaDir != "" {
				p.File = filepath.Join(schemaDir, p.File)
			}
			out = append(out, p)
		}
	case err != nil:
		out = append(out, err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return append(out, fmt.Errorf("read config: %w", err))
	}
	cfg, cp := parse(raw, file, filepath.Dir(file), getenv)
	if cfg == nil {
		for _, p := range cp {
			out = append(out, p)
		}
		return out
	}
	valueProblems := len(cp)
	if reg != nil {
		cp = append(cp, cfg.CheckSchemas(reg)...)
	}
	sort.SliceStable(cp, func(i, j int) bool { return cp[i].Line < cp[j].Line })
	for i, p := range cp {
		if i > 0 && p == cp[i-1] {
			continue // found by the connector's own check and by the check against the schema
		}
		out = append(out, p)
	}
	if valueProblems > 0 {
		return out // the reference files and tables are checked once the values are right
	}
	if _, err := ReadAreas(cfg); err != nil {
		out = append(out, cfg.problem(err.Error(), "reference", "areas"))
	}
	if reg != nil {
		out = append(out, checkTables(cfg, reg)...)
	}
	return out
}

func checkTables(cfg *Config, reg *schemas.Registry) []error {
	path := filepath.Join(cfg.DataDir, "yiwang.duckdb")
	if _, err := os.Stat(path); err != nil {
		return nil // nothing loaded yet: every schema is new
	}
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		return nil // a running pipeline holds it; it checks at its next start
	}
	defer func() { _ = st.Close() }()
	plan, err := st.SchemaChanges(ctx, reg)
	if err != nil {
		return []error{err}
	}
	return plan.Refused
}
