package kafkain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/connectors/mapping"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/metrics"
	"github.com/yiwang-gov/yiwang/schemas"
)

const topic = "jz.jqxx"

// cluster starts the embedded broker with topic of the given partition
// count and returns a client and a writer of it.
func cluster(t *testing.T, partitions int, configs map[string]string) (*kafka.Broker, *kafka.Client, *kafka.Writer) {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c := kafka.NewClient([]string{b.Addr()})
	t.Cleanup(c.Close)
	if err := c.EnsureTopics(context.Background(), []kafka.Topic{{Name: topic, Partitions: partitions, Configs: configs}}); err != nil {
		t.Fatal(err)
	}
	w := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return b, c, w
}

// platform returns n incidents in the platform's shape, from the first
// record of testdata/jqxx.jsonl with numbered ids.
func platform(t *testing.T, from, n int) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	base := sample(t)[0]
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("J%019d", i)
		out = append(out, kafka.Message{Topic: topic, Key: []byte(id), Value: bytes.Replace(base, []byte("J3201062026030100017"), []byte(id), 1)})
	}
	return out
}

func sample(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/jqxx.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

func newSource(t *testing.T, cfg Config, brokers []string) *Source {
	t.Helper()
	s, err := New(cfg, brokers)
	if err != nil {
		t.Fatal(err)
	}
	s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// drain polls from cursor until a poll reports nothing more, alternating
// between sources so that every poll also resumes from a stored cursor.
func drain(t *testing.T, ctx context.Context, srcs []*Source, cursor string, pageSize int) ([]connectors.Record, string) {
	t.Helper()
	var all []connectors.Record
	for i := 0; ; i++ {
		recs, more, err := srcs[i%len(srcs)].Poll(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > pageSize {
			t.Fatalf("page of %d records, page_size %d", len(recs), pageSize)
		}
		if more && len(recs) == 0 {
			t.Fatal("more without records")
		}
		all = append(all, recs...)
		if len(recs) > 0 {
			cursor = recs[len(recs)-1].Cursor
		}
		if !more {
			return all, cursor
		}
		if i > 1000 {
			t.Fatal("no end")
		}
	}
}

// checkOrder asserts that records come in offset order per partition, with
// cursors that never move back, each naming the offset after its record.
func checkOrder(t *testing.T, recs []connectors.Record, from Cursor) {
	t.Helper()
	last := Cursor{}
	for p, o := range from {
		last[p] = o
	}
	for _, r := range recs {
		var p int
		var off int64
		if _, err := fmt.Sscanf(r.Position, topic+"/%d@%d", &p, &off); err != nil {
			t.Fatalf("position %q: %v", r.Position, err)
		}
		c, err := ParseCursor(r.Cursor)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != r.Cursor {
			t.Fatalf("cursor %q is not in its canonical form", r.Cursor)
		}
		if c[p] != off+1 {
			t.Fatalf("record %s has cursor %s", r.Position, r.Cursor)
		}
		for q, o := range last {
			if c[q] < o {
				t.Fatalf("cursor of %s moved back on partition %d: %s after %v", r.Position, q, r.Cursor, last)
			}
		}
		if off != last[p] && last[p] != 0 {
			t.Fatalf("partition %d: offset %d after %d (skipped or repeated)", p, off, last[p]-1)
		}
		last = c
	}
}

func TestPollPagesAndResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _, w := cluster(t, 3, nil)
	if err := w.Write(ctx, platform(t, 0, 25)...); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Topic: topic, PageSize: 4, MaxWait: 50 * time.Millisecond}
	srcs := []*Source{newSource(t, cfg, []string{b.Addr()}), newSource(t, cfg, []string{b.Addr()})}
	recs, cursor := drain(t, ctx, srcs, "", 4)
	if len(recs) != 25 {
		t.Fatalf("%d records, want 25", len(recs))
	}
	checkOrder(t, recs, nil)
	ids := map[string]bool{}
	for _, r := range recs {
		var obj map[string]any
		if err := json.Unmarshal(r.Raw, &obj); err != nil {
			t.Fatal(err)
		}
		ids[obj["jjdbh"].(string)] = true
	}
	if len(ids) != 25 {
		t.Fatalf("%d distinct records of 25", len(ids))
	}
	c, _ := ParseCursor(cursor)
	if len(c) != 3 || c[0]+c[1]+c[2] != 25 {
		t.Fatalf("final cursor %s", cursor)
	}

	// Caught up: a poll waits, then returns nothing.
	again, more, err := srcs[0].Poll(ctx, cursor)
	if err != nil || len(again) != 0 || more {
		t.Fatalf("caught up: %d records, more %v, err %v", len(again), more, err)
	}
	// New records are read from the stored cursor on.
	if err := w.Write(ctx, platform(t, 25, 5)...); err != nil {
		t.Fatal(err)
	}
	recs, _ = drain(t, ctx, srcs, cursor, 4)
	if len(recs) != 5 {
		t.Fatalf("%d new records, want 5", len(recs))
	}
	checkOrder(t, recs, c)
}

func TestPageSmallerThanPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _, w := cluster(t, 3, nil)
	if err := w.Write(ctx, platform(t, 0, 12)...); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{Topic: topic, PageSize: 1, MaxWait: 50 * time.Millisecond}, []string{b.Addr()})
	recs, _ := drain(t, ctx, []*Source{s}, "", 1)
	if len(recs) != 12 {
		t.Fatalf("%d records, want 12", len(recs))
	}
	checkOrder(t, recs, nil)
}

func TestNewPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, c, w := cluster(t, 1, nil)
	if err := w.Write(ctx, platform(t, 0, 3)...); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{Topic: topic, MaxWait: 50 * time.Millisecond}, []string{b.Addr()})
	recs, cursor := drain(t, ctx, []*Source{s}, "", 1000)
	if len(recs) != 3 || cursor != "0:3" {
		t.Fatalf("%d records, cursor %s", len(recs), cursor)
	}
	if err := c.AddPartitions(ctx, topic, 3); err != nil {
		t.Fatal(err)
	}
	// The source sees the new partitions once its client's view of the
	// cluster is refreshed (kafka.MetadataTTL).
	for {
		parts, err := s.client.Partitions(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the source still sees partitions %v", parts)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Keys spread over the new partitions (a new writer knows them all);
	// each begins at its first offset.
	w2 := kafka.NewWriter([]string{b.Addr()}, kafka.WriterOptions{})
	defer func() { _ = w2.Close() }()
	if err := w2.Write(ctx, platform(t, 3, 30)...); err != nil {
		t.Fatal(err)
	}
	recs, cursor = drain(t, ctx, []*Source{s}, cursor, 1000)
	if len(recs) != 30 {
		t.Fatalf("%d records after adding partitions, want 30", len(recs))
	}
	checkOrder(t, recs, Cursor{0: 3})
	if cur, _ := ParseCursor(cursor); len(cur) != 3 || cur[1] == 0 || cur[2] == 0 {
		t.Fatalf("cursor %s: the new partitions were not read", cursor)
	}
}

func TestStartLatest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _, w := cluster(t, 2, nil)
	if err := w.Write(ctx, platform(t, 0, 5)...); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{Topic: topic, Start: StartLatest, MaxWait: 50 * time.Millisecond}, []string{b.Addr()})
	recs, more, err := s.Poll(ctx, "")
	if err != nil || len(recs) != 0 || more {
		t.Fatalf("first poll at the end: %d records, more %v, err %v", len(recs), more, err)
	}
	// The runner stores no cursor for an empty page: the source remembers
	// where the end was, so what arrives next is read, not skipped.
	if err := w.Write(ctx, platform(t, 5, 3)...); err != nil {
		t.Fatal(err)
	}
	recs, cursor := drain(t, ctx, []*Source{s}, "", 1000)
	if len(recs) != 3 {
		t.Fatalf("%d records, want the 3 written after the start", len(recs))
	}
	if c, _ := ParseCursor(cursor); len(c) != 2 || c[0]+c[1] != 8 {
		t.Fatalf("cursor %s must name every partition", cursor)
	}
}

func TestNonJSONIsDelivered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _, w := cluster(t, 1, nil)
	msgs := append(platform(t, 0, 1), kafka.Message{Topic: topic, Value: []byte("<xml>not json</xml>")}, kafka.Message{Topic: topic, Key: []byte("tombstone")})
	if err := w.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{Topic: topic, MaxWait: 50 * time.Millisecond}, []string{b.Addr()})
	recs, _ := drain(t, ctx, []*Source{s}, "", 1000)
	if len(recs) != 3 || string(recs[1].Raw) != "<xml>not json</xml>" || recs[1].Position != topic+"/0@1" ||
		len(recs[2].Raw) != 0 || recs[2].Cursor != "0:3" {
		t.Fatalf("records %+v", recs)
	}
}

func TestRetentionSkipsAndCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, c, w := cluster(t, 1, map[string]string{"segment.bytes": "4096", "retention.bytes": "8192"})
	for i := range 10 {
		if err := w.Write(ctx, platform(t, i*20, 20)...); err != nil {
			t.Fatal(err)
		}
	}
	b.ApplyRetention()
	offs, err := c.PartitionOffsets(ctx, map[string][]int{topic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	first := offs[topic][0].First
	if first == 0 {
		t.Fatal("retention deleted nothing")
	}
	s := newSource(t, Config{Topic: topic, MaxWait: 50 * time.Millisecond}, []string{b.Addr()})
	recs, cursor := drain(t, ctx, []*Source{s}, "0:0", 1000)
	if int64(len(recs)) != 200-first || recs[0].Position != fmt.Sprintf("%s/0@%d", topic, first) || cursor != "0:200" {
		t.Fatalf("%d records from %s to cursor %s; want %d from offset %d", len(recs), recs[0].Position, cursor, 200-first, first)
	}
	if s.Lost() != first {
		t.Fatalf("lost %d, want %d", s.Lost(), first)
	}
	// The runner hands back the stored cursor until a record moves it: the
	// same gap found again is the same loss.
	for range 3 {
		if _, _, err := s.Poll(ctx, "0:0"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Lost() != first {
		t.Fatalf("lost %d after polling from the same cursor again, want %d", s.Lost(), first)
	}
}

func TestCursor(t *testing.T) {
	c, err := ParseCursor("2:0,0:120,1:98")
	if err != nil || !reflect.DeepEqual(c, Cursor{0: 120, 1: 98, 2: 0}) || c.String() != "0:120,1:98,2:0" {
		t.Fatalf("%v %v %s", c, err, c.String())
	}
	for _, bad := range []string{"0", "0:", "a:1", "0:-1", "-1:0", "0:1,0:2", "0:1,", " 0:1"} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []FieldError
	}{
		{"minimal", Config{Topic: "jz.jqxx"}, nil},
		{"everything wrong", Config{Brokers: []string{"10.0.0.5"}, Topic: "jz/jqxx", Start: "oldest", PageSize: -1, MaxWait: time.Minute}, []FieldError{
			{Field: "brokers.0", Msg: `must be host:port, got "10.0.0.5"`},
			{Field: "topic", Msg: `"jz/jqxx" is not a Kafka topic name (letters, digits, '.', '_', '-')`},
			{Field: "start", Msg: `must be earliest or latest, got "oldest"`},
			{Field: "page_size", Msg: "must be 1-100000, got -1"},
			{Field: "max_wait", Msg: `must be between 1ms and 5s, got "1m0s"`},
		}},
		{"no topic", Config{}, []FieldError{{Field: "topic", Msg: "is required: the platform's topic to read"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.cfg.Validate(); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v", got)
			}
		})
	}
	if _, err := New(Config{Topic: topic}, nil); err == nil || !strings.Contains(err.Error(), "no brokers") {
		t.Fatalf("New without brokers: %v", err)
	}
}

// sampleSource is sample.yaml decoded as the pipeline decodes a source.
type sampleSource struct {
	Name   string         `yaml:"name"`
	Schema string         `yaml:"schema"`
	Type   string         `yaml:"type"`
	Every  time.Duration  `yaml:"every"`
	Kafka  Config         `yaml:"kafka"`
	Map    mapping.Config `yaml:"map"`
}

func loadSample(t *testing.T) (sampleSource, *schemas.Schema, *mapping.Mapping) {
	t.Helper()
	var srcs []sampleSource
	dec := yaml.NewDecoder(strings.NewReader(SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(&srcs); err != nil || len(srcs) != 1 {
		t.Fatalf("sample.yaml: %v", err)
	}
	s := srcs[0]
	if errs := s.Kafka.Validate(); len(errs) > 0 {
		t.Fatalf("sample.yaml kafka: %v", errs)
	}
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := reg.Get(s.Schema)
	if !ok {
		t.Fatalf("schema %s", s.Schema)
	}
	m, errs := mapping.Compile(s.Map, sc)
	if len(errs) > 0 {
		t.Fatalf("sample.yaml map: %v", errs)
	}
	return s, sc, m
}

type areas map[string]bool

func (a areas) Known(c string) bool { return a[c] }

// TestRunnerEndToEnd runs the runner with this source and the sample's
// mapping from a platform topic on the embedded broker into the
// police_incident topic, and reads the records back.
func TestRunnerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, c, w := cluster(t, 3, nil)
	cfg, sc, m := loadSample(t)
	if err := c.EnsureTopics(ctx, []kafka.Topic{{Name: sc.Topic, Partitions: 2}, {Name: deadletter.Topic, Partitions: 1},
		{Name: connectors.StateTopic, Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}}}); err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for i, v := range sample(t) {
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: v})
	}
	msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte("x"), Value: []byte("jjdbh=J1;bjrsfzh=220104195603150425")})
	if err := w.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	cfg.Kafka.Brokers = nil // the pipeline's own cluster
	cfg.Kafka.MaxWait = 50 * time.Millisecond
	cfg.Kafka.PageSize = 2
	src := newSource(t, cfg.Kafka, []string{b.Addr()})
	st, err := connectors.LoadState(ctx, c, w)
	if err != nil {
		t.Fatal(err)
	}
	r := &connectors.Runner{Name: cfg.Name, Schema: sc, Source: src, Map: m, Every: 20 * time.Millisecond, Producer: w, State: st,
		Areas: areas{"220173002001": true}, Metrics: metrics.New(), Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(rctx) }()
	for {
		cur, _ := ParseCursor(st.Get(cfg.Name))
		if cur[0]+cur[1]+cur[2] == int64(len(msgs)) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("timeout at cursor %s", st.Get(cfg.Name))
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got, err := c.ReadAll(ctx, sc.Topic)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, m := range got {
		byID[string(m.Key)] = string(m.Value)
	}
	want := map[string]string{
		"J3201062026030100017": `{"arrived_at":"2026-03-01T02:12:30Z","call_type":"report","category_l1":"public_order","category_l2":"打架斗殴","disposal":"mediated","grid_code":"220173002001004","incident_id":"J3201062026030100017","is_valid":true,"received_at":"2026-03-01T02:00:00Z","station_code":"320106010000","updated_at":"2026-03-01T02:40:00Z"}`,
		"J3201062026030100018": `{"arrived_at":"2026-03-01T02:20:00Z","call_type":"assistance","category_l1":"assistance","closed_at":"2026-03-01T03:05:00Z","disposal":"other","grid_code":"220173002001001","incident_id":"J3201062026030100018","is_valid":true,"received_at":"2026-03-01T02:03:11Z","station_code":"320106010000","updated_at":"2026-03-01T03:05:00Z"}`,
		"J3201062026030100019": `{"call_type":"complaint","category_l1":"dispute","category_l2":"邻里纠纷","grid_code":"220173002001004","incident_id":"J3201062026030100019","is_valid":false,"received_at":"2026-03-01T02:07:45Z","station_code":"320106010000","updated_at":"2026-03-01T02:07:45Z"}`,
	}
	if !reflect.DeepEqual(byID, want) {
		t.Fatalf("produced %d records:\n%v", len(got), byID)
	}
	for _, m := range got {
		if _, err := sc.Load(m.Value, areas{"220173002001": true}, time.Now()); err != nil {
			t.Fatalf("not valid in the topic form: %v", err)
		}
	}

	dead, err := deadletter.Read(ctx, c, deadletter.Filter{Source: cfg.Name})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, d := range dead {
		reasons = append(reasons, d.Reason+" "+d.Field+" "+d.Message)
		if !strings.HasPrefix(d.Position, topic+"/") || strings.Contains(d.Payload, "220104195603150425") {
			t.Fatalf("dead letter %+v", d)
		}
	}
	slices.Sort(reasons)
	wantReasons := []string{
		"malformed_json  invalid character 'j' looking for beginning of value",
		`mapping call_type jqxz: "骚扰" is not a known label (known: 咨询, 投诉, 报警, 无效, 求助)`,
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Fatalf("dead letters:\n%s", strings.Join(reasons, "\n"))
	}
}
