package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/connectors/sqldb"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// sourceFile is one source of a testdata/*.yaml file, in the pipeline
// file's syntax.
type sourceFile struct {
	Name   string           `yaml:"name"`
	Schema string           `yaml:"schema"`
	Type   string           `yaml:"type"`
	Every  time.Duration    `yaml:"every"`
	File   *filedrop.Config `yaml:"file"`
	SQL    *sqldb.Config    `yaml:"sql"`
	Kafka  *struct {
		Topic string `yaml:"topic"`
		Start string `yaml:"start"`
	} `yaml:"kafka"`
	Map *struct {
		Fields map[string]mapField `yaml:"fields"`
		Keep   []string            `yaml:"keep"`
	} `yaml:"map"`
}

// mapField is one field of kafkain's mapping: a path, or the long form.
type mapField struct {
	Path     string         `yaml:"path"`
	Time     []string       `yaml:"time"`
	Timezone string         `yaml:"timezone"`
	Values   map[string]any `yaml:"values"`
	Type     string         `yaml:"type"`
	Default  any            `yaml:"default"`
	Optional bool           `yaml:"optional"`
	Expr     string         `yaml:"expr"`
}

// UnmarshalYAML accepts the shorthand (a path) or the long form.
func (m *mapField) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		m.Path = n.Value
		return nil
	}
	type plain mapField
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*m = mapField(p)
	return nil
}

var varRefTest = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// loadSources reads testdata/<name> strictly (unknown keys are errors),
// expanding ${VAR} and ${VAR:-default} from env.
func loadSources(t *testing.T, name string, env map[string]string) []sourceFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	expanded := varRefTest.ReplaceAllStringFunc(string(raw), func(ref string) string {
		m := varRefTest.FindStringSubmatch(ref)
		if v, ok := env[m[1]]; ok {
			return v
		}
		if m[2] == "" {
			t.Fatalf("%s: %s is not set", name, m[1])
		}
		return m[3]
	})
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	var out []sourceFile
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// validate checks a record as connectors.Runner does (connectors.Check).
func validate(sc *schemas.Schema, raw []byte, areas schemas.Areas, now time.Time) (map[string]any, error) {
	obj, err := schemas.Decode(raw)
	if err != nil {
		return nil, err
	}
	return obj, connectors.Check(sc, obj, areas, now)
}

// normalised returns obj in a form that compares equal whatever the
// transport: null and empty lists left out (a spreadsheet cell cannot tell
// them from absent), times as Unix microseconds, numbers as float64,
// mobile numbers normalised. truncate, when set, cuts the named times to
// the second.
func normalised(sc *schemas.Schema, obj map[string]any, truncate ...string) map[string]any {
	out := map[string]any{}
	for k, v := range obj {
		col, _ := sc.Column(k)
		switch x := v.(type) {
		case nil:
			continue
		case []any:
			if len(x) == 0 {
				continue
			}
		case json.Number:
			f, err := x.Float64()
			if err == nil {
				v = f
			}
		case float64:
		case string:
			if col.Type == schemas.Timestamp {
				if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
					if slices.Contains(truncate, k) {
						ts = ts.Truncate(time.Second)
					}
					v = ts.UnixMicro()
				}
			}
			if col.Check == schemas.CheckMobile {
				if n, err := pii.NormalizeMobile(x); err == nil {
					v = n
				}
			}
		}
		out[k] = v
	}
	return out
}

// roundTrip compares what a transport delivered in one round with the
// simulator's ledger: every record written since the previous snapshot
// (prev) must have arrived, the valid ones accepted at the version and with
// the field values the ledger holds, the invalid ones refused; nothing
// else may have arrived.
type roundTrip struct {
	t        *testing.T
	sc       *schemas.Schema
	truncate []string
	accepted map[string]map[string]any // key → the record, normalised
	refused  map[string]error
	labels   map[string]int // invalid records refused, by label
}

func newRoundTrip(t *testing.T, sc *schemas.Schema, truncate ...string) *roundTrip {
	return &roundTrip{t: t, sc: sc, truncate: truncate, accepted: map[string]map[string]any{}, refused: map[string]error{}, labels: map[string]int{}}
}

// add records the outcome of one delivered record; obj may be nil for a
// record that did not decode. It returns the validation error.
func (r *roundTrip) add(raw []byte, areas schemas.Areas, now time.Time) error {
	r.t.Helper()
	obj, err := validate(r.sc, raw, areas, now)
	if obj == nil {
		r.t.Errorf("%s: a delivered record does not decode: %v\n%s", r.sc.Name, err, raw)
		return err
	}
	key := fmt.Sprint(obj[r.sc.Key[0]])
	if err != nil {
		if _, dup := r.refused[key]; dup {
			r.t.Errorf("%s %s refused twice in one round", r.sc.Name, key)
		}
		r.refused[key] = err
		return err
	}
	n := normalised(r.sc, obj, r.truncate...)
	if prev, dup := r.accepted[key]; dup && prev[r.sc.VersionField].(int64) >= n[r.sc.VersionField].(int64) {
		return nil // an older or equal version delivered again
	}
	r.accepted[key] = n
	return nil
}

// check compares the round with the ledger snapshots before (prev, may be
// empty) and after it (cur): the records changed in between. It returns
// how many invalid records the round had.
func (r *roundTrip) check(prev, cur Ledger) int {
	r.t.Helper()
	typ := r.sc.Name
	wantValid := map[string]Version{}
	for id, v := range cur.Valid[typ] {
		if p, ok := prev.Valid[typ][id]; !ok || !p.UpdatedAt.Equal(v.UpdatedAt) {
			wantValid[id] = v
		}
	}
	wantInvalid := map[string]string{}
	for id, reason := range cur.Invalid[typ] {
		if _, ok := prev.Invalid[typ][id]; !ok {
			wantInvalid[id] = reason
		}
	}
	if len(wantValid) == 0 {
		r.t.Errorf("%s: no valid record changed in the round", typ)
	}
	for id, v := range wantValid {
		got, ok := r.accepted[id]
		if !ok {
			r.t.Errorf("%s %s (valid) was not accepted: %v\n%s", typ, id, r.refused[id], v.JSON)
			continue
		}
		obj, err := v.Record()
		if err != nil {
			r.t.Fatal(err)
		}
		want := normalised(r.sc, obj, r.truncate...)
		if !reflect.DeepEqual(got, want) {
			r.t.Errorf("%s %s differs from the ledger:\n got %v\nwant %v", typ, id, got, want)
		}
	}
	for id := range r.accepted {
		if _, ok := wantValid[id]; !ok {
			r.t.Errorf("%s %s accepted but not a valid record changed in this round", typ, id)
		}
	}
	for id, label := range wantInvalid {
		err, ok := r.refused[id]
		if !ok {
			r.t.Errorf("%s %s (invalid: %s) was not refused", typ, id, label)
			continue
		}
		var re *schemas.RecordError
		if !errors.As(err, &re) || !slices.Contains(expectedReasons(label), re.Reason) {
			r.t.Errorf("%s %s (invalid: %s) refused as %v, want one of %v", typ, id, label, err, expectedReasons(label))
		}
		r.labels[label]++
	}
	for id, err := range r.refused {
		if _, ok := wantInvalid[id]; !ok {
			r.t.Errorf("%s %s refused but not an invalid record of this round: %v", typ, id, err)
		}
	}
	return len(wantInvalid)
}

// stepClock is a clock tests move by hand.
type stepClock struct{ now atomic.Int64 }

func newStepClock(t time.Time) *stepClock {
	c := &stepClock{}
	c.now.Store(t.UnixNano())
	return c
}

func (c *stepClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *stepClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func TestTransports(t *testing.T) {
	all := RecordTypes()
	if got := TransportHTTP.RecordTypes(); !slices.Equal(got, all) {
		t.Errorf("HTTP serves %v, want every type %v", got, all)
	}
	seen := map[string]Transport{}
	for _, tr := range Transports() {
		if len(tr.RecordTypes()) == 0 {
			t.Errorf("transport %s publishes nothing", tr)
		}
		if tr == TransportHTTP {
			continue
		}
		for _, typ := range tr.RecordTypes() {
			if !slices.Contains(all, typ) {
				t.Errorf("transport %s publishes unknown type %s", tr, typ)
			}
			if other, dup := seen[typ]; dup {
				t.Errorf("%s published by both %s and %s", typ, other, tr)
			}
			seen[typ] = tr
		}
	}
	if Transport("smoke signals").RecordTypes() != nil {
		t.Error("an unknown transport publishes something")
	}
}

func TestHTTPTypes(t *testing.T) {
	if err := (Config{HTTPTypes: []string{"grid_event", "visits"}}).Validate(); err == nil || !strings.Contains(err.Error(), `HTTPTypes[1]: unknown record type "visits"`) {
		t.Errorf("Validate = %v", err)
	}
	if err := (Config{HTTPTypes: []string{"grid_event"}}).Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	s := New(Config{Seed: 1, Scale: 0.002, HTTPTypes: []string{"grid_event", "household"}, Now: fixed(weekdayPeak())})
	s.Step(10)
	for _, typ := range RecordTypes() {
		path, _ := Path(typ)
		rec := get(t, s.Handler(), path, nil)
		want := http.StatusNotFound
		if typ == "grid_event" || typ == "household" {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("%s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
	}
}

// dropReader is a filedrop source and the folder it reads.
type dropReader struct {
	src    *filedrop.Source
	folder string
}

// drain reads the folder until no file is left, validating every record
// as the runner does and reporting each outcome back, so that the files
// finish in done/ with their reports. It returns the positions of the
// refused rows.
func (d dropReader) drain(t *testing.T, rt *roundTrip, areas schemas.Areas, now time.Time) map[string]bool {
	t.Helper()
	ctx := context.Background()
	refusedAt := map[string]bool{}
	cursor := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the folder did not drain in 1000 polls")
		}
		recs, _, err := d.src.Poll(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			err := rt.add(rec.Raw, areas, now)
			if err != nil {
				refusedAt[rec.Position] = true
			}
			d.src.Outcome(rec, err)
			cursor = rec.Cursor
		}
		if len(recs) == 0 && d.pending(t) == 0 {
			return refusedAt
		}
	}
}

// pending counts the files still waiting at the top of the folder.
func (d dropReader) pending(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(d.folder)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// TestLedgersRoundTrip writes the door-visit and store ledgers with the
// publisher and reads them with the filedrop connector configured by
// testdata/ledgers.yaml, in two rounds (the initial load, then new visits
// and updated stores): every valid record arrives at the ledger's version
// with the ledger's values, every invalid one is refused, and each file's
// report lists the refused rows.
func TestLedgersRoundTrip(t *testing.T) {
	reg := registry(t)
	dir := t.TempDir()
	clk := newStepClock(weekdayPeak())
	s := New(Config{Seed: 11, Scale: 0.01, InvalidShare: 0.3, Now: clk.Now})
	s.Step(1500)
	p, err := s.NewLedgerPublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	sources := loadSources(t, "ledgers.yaml", map[string]string{"YIWANG_LEDGER_DIR": dir})
	if len(sources) != 2 || sources[0].Name != "ledger.door_visit" || sources[1].Name != "ledger.store" {
		t.Fatalf("ledgers.yaml: want the sources ledger.door_visit and ledger.store, got %+v", sources)
	}
	readers := map[string]dropReader{}
	var readerClock atomic.Int64
	readerClock.Store(time.Now().UnixNano())
	for _, sf := range sources {
		if sf.Type != "filedrop" || sf.File == nil {
			t.Fatalf("%s: type %s, want filedrop with file:", sf.Name, sf.Type)
		}
		sc, ok := reg.Get(sf.Schema)
		if !ok {
			t.Fatalf("%s: no schema %s", sf.Name, sf.Schema)
		}
		folder, ok := p.Folder(sf.Schema)
		if !ok || sf.File.Dir != folder {
			t.Fatalf("%s reads %s; the publisher writes %s", sf.Name, sf.File.Dir, folder)
		}
		src, err := filedrop.New(*sf.File, sc)
		if err != nil {
			t.Fatal(err)
		}
		// Each look at the folder is a minute later: files are stable.
		src.Now = func() time.Time { return time.Unix(0, readerClock.Add(int64(time.Minute))) }
		readers[sf.Schema] = dropReader{src, folder}
	}
	prev := Ledger{}
	for round := 1; round <= 2; round++ {
		n, err := p.Publish(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cur := s.Ledger()
		if n == 0 {
			t.Fatalf("round %d: nothing published", round)
		}
		for _, typ := range TransportLedgers.RecordTypes() {
			sc, _ := reg.Get(typ)
			rt := newRoundTrip(t, sc)
			refusedAt := readers[typ].drain(t, rt, s.District(), clk.Now())
			rt.check(prev, cur)
			if round == 1 {
				checkLabels(t, typ, rt.labels)
			}
			checkReports(t, readers[typ].folder, refusedAt, round)
			t.Logf("round %d %s: %d accepted, %d refused", round, typ, len(rt.accepted), len(rt.refused))
		}
		if n2, err := p.Publish(context.Background()); err != nil || n2 != 0 {
			t.Fatalf("round %d: an immediate second Publish wrote %d rows (%v), want none", round, n2, err)
		}
		prev = cur
		// New visits, store updates and lifecycle steps, a few minutes on.
		clk.Advance(7 * time.Minute)
		s.Step(1500)
	}
	// A new publisher, as after a restart, writes everything again.
	dir2 := t.TempDir()
	p2, err := s.NewLedgerPublisher(dir2)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p2.Publish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := s.Counts()
	if want := c["door_visit"].Valid + c["door_visit"].Invalid + c["store"].Valid + c["store"].Invalid; n != want {
		t.Errorf("a new publisher wrote %d rows, want every door visit and store: %d", n, want)
	}
}

// checkLabels fails unless every invalid-record label that applies to typ
// was exercised.
func checkLabels(t *testing.T, typ string, got map[string]int) {
	t.Helper()
	for _, label := range InvalidReasons() {
		if label == InvalidUSCIChecksum && typ != "store" {
			continue // door visits, work orders and incidents have no credit code
		}
		if got[label] == 0 {
			t.Errorf("%s: no invalid record labelled %s in the round (%v)", typ, label, got)
		}
	}
}

// checkReports compares the rows the reports of a folder's files list as
// rejected with the rows the validation refused.
func checkReports(t *testing.T, folder string, refusedAt map[string]bool, round int) {
	t.Helper()
	reports, err := filedrop.Reports(folder)
	if err != nil {
		t.Fatal(err)
	}
	inReports := map[string]bool{}
	files := 0
	for _, r := range reports {
		if r.Status != "loaded" {
			t.Errorf("%s: status %s (%s), want loaded", r.File, r.Status, r.Error)
		}
		files++
		for _, row := range r.RejectedRows {
			inReports[fmt.Sprintf("file:%s#row=%d", r.File, row.Row)] = true
		}
	}
	if files < round {
		t.Errorf("%s: %d reports after round %d", folder, files, round)
	}
	for pos := range refusedAt {
		if !inReports[pos] {
			t.Errorf("refused row %s is not in its file's report", pos)
		}
	}
}

// TestLedgerFiles looks at the files themselves: names, title and header
// rows, visit times as text and as Excel dates, the GBK encoding of the
// CSV, typed phone numbers and dates, no temporary file left.
func TestLedgerFiles(t *testing.T) {
	dir := t.TempDir()
	s := New(Config{Seed: 3, Scale: 0.01, InvalidShare: 0.1, Now: fixed(local(2026, 11, 26, 10, 0))})
	s.Step(800)
	p, err := s.NewLedgerPublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	xlsx := "敲门行动台账_20261126-100000_第0001批.xlsx"
	csvName := "十小门店台账_20261126-100000_第0001批.csv"
	for typ, name := range map[string]string{"door_visit": xlsx, "store": csvName} {
		entries, err := os.ReadDir(filepath.Join(dir, typ))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{name}) {
			t.Errorf("%s: files %q, want [%s]", typ, names, name)
		}
	}

	f, err := excelize.OpenFile(filepath.Join(dir, "door_visit", xlsx), excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rows, err := f.GetRows("台账")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 3 || rows[0][0] != "长春新区敲门行动台账 2026H2 第1批" || !slices.Equal(rows[1], doorVisitHeader()) {
		t.Fatalf("title and header rows: %q", rows[:min(2, len(rows))])
	}
	asText, serial := 0, 0
	for _, r := range rows[2:] {
		if len(r) <= 7 {
			continue
		}
		if regexp.MustCompile(`^2026-11-26 [0-9]{2}:[0-9]{2}$`).MatchString(r[7]) {
			asText++
		} else if regexp.MustCompile(`^46[0-9]{3}\.[0-9]+$`).MatchString(r[7]) {
			serial++
		}
	}
	if asText == 0 || serial == 0 {
		t.Errorf("visit times: %d as text, %d as Excel dates; want both", asText, serial)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "store", csvName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("门店")) {
		t.Error("the store CSV is UTF-8, want GBK")
	}
	enc := simplifiedchinese.GBK.NewEncoder()
	for _, want := range []string{"长春新区十小门店台账 第1批（导出时间 2026-11-26 10:00）\r\n", "序号,门店编号,招牌名称", "小餐饮", "、", "１", "年", "+86 1"} {
		b, err := enc.String(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte(b)) {
			t.Errorf("the store CSV lacks %q", want)
		}
	}
}

// TestPublishWhileRunning publishes the ledgers every 20 ms while the
// simulator generates at a high rate, then reads every file: each record
// arrives, at its latest version, nothing is refused that is valid or
// accepted that is not. It also runs under -race.
func TestPublishWhileRunning(t *testing.T) {
	reg := registry(t)
	base, began := weekdayPeak(), time.Now()
	now := func() time.Time { return base.Add(time.Since(began)) }
	s := New(Config{Seed: 21, Scale: 0.005, Rate: 2000, InvalidShare: 0.1, Now: now})
	dir := t.TempDir()
	p, err := s.NewLedgerPublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	pubCtx, stopPub := context.WithCancel(context.Background())
	simDone, pubDone := make(chan error, 1), make(chan error, 1)
	go func() { simDone <- s.Run(simCtx) }()
	go func() { pubDone <- s.publishLoop(pubCtx, p, TransportLedgers, 20*time.Millisecond) }()
	time.Sleep(600 * time.Millisecond)
	stopSim()
	if err := <-simDone; err != nil {
		t.Fatal(err)
	}
	stopPub()
	if err := <-pubDone; err != nil {
		t.Fatalf("publishLoop = %v, want nil when its context ends", err)
	}
	if _, err := p.Publish(context.Background()); err != nil { // what the last tick missed
		t.Fatal(err)
	}
	final := s.Ledger()
	var readerClock atomic.Int64
	readerClock.Store(time.Now().UnixNano())
	files := 0
	for _, sf := range loadSources(t, "ledgers.yaml", map[string]string{"YIWANG_LEDGER_DIR": dir}) {
		sc, _ := reg.Get(sf.Schema)
		src, err := filedrop.New(*sf.File, sc)
		if err != nil {
			t.Fatal(err)
		}
		src.Now = func() time.Time { return time.Unix(0, readerClock.Add(int64(time.Minute))) }
		entries, _ := os.ReadDir(sf.File.Dir)
		files += len(entries)
		rt := newRoundTrip(t, sc)
		dropReader{src, sf.File.Dir}.drain(t, rt, s.District(), now())
		rt.check(Ledger{}, final)
		t.Logf("%s: %d files, %d accepted, %d refused", sc.Name, len(entries), len(rt.accepted), len(rt.refused))
	}
	if files < 4 {
		t.Errorf("%d files in 600 ms of publishing every 20 ms", files)
	}
}

// TestPublishSetupErrors: the Publish* loops return at once when they
// cannot start.
func TestPublishSetupErrors(t *testing.T) {
	s := New(Config{Seed: 1, Scale: 0.002, Now: fixed(weekdayPeak())})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishLedgers(ctx, filepath.Join(file, "drop"), time.Second); err == nil {
		t.Error("PublishLedgers into a path under a file returned nil")
	}
	if err := s.PublishPostgres(ctx, "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", time.Second); err == nil {
		t.Error("PublishPostgres to a closed port returned nil")
	}
}
