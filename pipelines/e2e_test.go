package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/demo"

	"github.com/yiwang-gov/yiwang/internal/deadletter"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/internal/api"
	"github.com/yiwang-gov/yiwang/internal/kafka"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/internal/simulate"
	"github.com/yiwang-gov/yiwang/schemas"
)

const testSeed = 20160101

// running is a pipeline started by a test.
type running struct {
	server, broker string
	stop           func() error
	logs           *syncBuffer // everything the pipeline logged, at debug level
	dir            string      // the data directory
	cfg            *Config
	drop           string // the ledgers' drop folders, one per record type
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPipeline runs the demo pipeline against the REST APIs at srcURL, with
// its data in dir, and waits until it serves. The platforms without a REST
// API hand nothing over: the ledger folders are empty, the property
// system's database is off. startDemo runs them all.
func startPipeline(t *testing.T, srcURL, dir, kafkaListen string, token string, mutate func(*Config)) *running {
	t.Helper()
	drop := t.TempDir()
	for _, typ := range simulate.TransportLedgers.RecordTypes() {
		if err := os.Mkdir(filepath.Join(drop, typ), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return startPipelineEnv(t, dir, map[string]string{"YIWANG_SOURCE_URL": srcURL, "YIWANG_KAFKA_LISTEN": kafkaListen,
		demo.EnvLedgerDir: drop, demo.EnvPropertySQL: "false"}, token, mutate)
}

// demoEnv starts the platforms of the demo that have no REST API for sim,
// publishing every 200 ms, and returns the variables of the pipeline file
// (the property system's delay window shortened to fit).
func demoEnv(t *testing.T, sim *simulate.Simulator) (*demo.Sources, map[string]string) {
	t.Helper()
	ds := &demo.Sources{Sim: sim, Dir: t.TempDir(), TempPostgres: true, Every: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	env, err := ds.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if env[demo.EnvPropertyAPI] == "true" {
		t.Fatal("PostgreSQL is not installed: scripts/install-test-deps installs it")
	}
	t.Setenv(demo.EnvPropertyDSN, env[demo.EnvPropertyDSN])
	env[demo.EnvPropertyDelay] = "1s"
	return ds, env
}

// startDemo runs the demo pipeline against sim on all four transports: its
// REST APIs, ledgers in a drop folder, the property system's PostgreSQL and
// the police platform's topic on the pipeline's broker.
func startDemo(t *testing.T, sim *simulate.Simulator, token string, mutate func(*Config)) *running {
	t.Helper()
	web := httptest.NewServer(sim.Handler())
	t.Cleanup(web.Close)
	ds, env := demoEnv(t, sim)
	env["YIWANG_SOURCE_URL"] = web.URL
	env["YIWANG_KAFKA_LISTEN"] = "127.0.0.1:0"
	p := startPipelineEnv(t, t.TempDir(), env, token, mutate)
	p.drop = env[demo.EnvLedgerDir]
	ctx, cancel := context.WithCancel(context.Background())
	ds.Run(ctx, []string{p.broker})
	t.Cleanup(func() { cancel(); ds.Close() })
	return p
}

// startPipelineEnv runs the demo pipeline with its data in dir and the
// variables env, and waits until it serves.
func startPipelineEnv(t *testing.T, dir string, env map[string]string, token string, mutate func(*Config)) *running {
	t.Helper()
	raw, base := DemoConfig()
	env["YIWANG_DATA"], env["YIWANG_LISTEN"] = dir, "127.0.0.1:0"
	t.Setenv("YIWANG_SOURCE_TOKEN", token)
	cfg, err := Parse(raw, "newarea.yaml", base, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Sources {
		cfg.Sources[i].Every = 100 * time.Millisecond
	}
	if mutate != nil {
		mutate(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *running, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- Run(ctx, cfg, Options{AdminToken: testAdminToken, PIIKey: testKey(), ModePoll: time.Second,
			Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Ready: func(server, broker string) {
				ready <- &running{server: server, broker: broker, logs: logs, dir: dir, cfg: cfg}
			}})
	}()
	select {
	case r := <-ready:
		var once sync.Once
		var runErr error
		r.stop = func() error {
			once.Do(func() { cancel(); runErr = <-done })
			return runErr
		}
		t.Cleanup(func() { _ = r.stop() })
		return r
	case err := <-done:
		cancel()
		t.Fatalf("pipeline did not start: %v\n%s", err, tail(logs.String(), 3000))
	case <-time.After(120 * time.Second):
		// Where it stands: its goroutines and its log's end.
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		cancel()
		var starting []string // the goroutine still in Run, before it is ready
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "pipelines.Run(") {
				starting = append(starting, g)
			}
		}
		t.Fatalf("pipeline did not start within 120 s; its log ends:\n%s\nwhere Run stands:\n%s", tail(logs.String(), 3000), strings.Join(starting, "\n\n"))
	}
	return nil
}

// query runs SQL through the server's API.
func query(t *testing.T, server, q string) [][]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sql": q, "limit": 100000})
	resp, err := http.Post("http://"+server+"/api/v1/sql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Rows  [][]any
		Error string
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("query %q: HTTP %d %v %s", q, resp.StatusCode, err, res.Error)
	}
	return res.Rows
}

// platformKeys returns, per record type the demo pipeline maps from a
// platform's own shape, the source field its key is read from.
func platformKeys(t *testing.T) map[string]string {
	t.Helper()
	raw, base := DemoConfig()
	cfg, err := Parse(raw, "newarea.yaml", base, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := schemas.LoadEmbedded()
	out := map[string]string{}
	for _, s := range cfg.Sources {
		if sc, ok := reg.Get(s.Schema); ok && s.Map != nil {
			out[sc.Name] = s.Map.Fields[sc.Key[0]].Path
		}
	}
	return out
}

// checkLedger compares the tables and the dead-letter topic with what the
// simulated sources hold. It returns "" when every valid record is in its
// table exactly once at its latest version and every invalid one is in the
// dead-letter topic with a reason; otherwise the first difference.
func checkLedger(t *testing.T, reg *schemas.Registry, l simulate.Ledger, server string, dlq []kafka.Message) string {
	t.Helper()
	dead := map[string]map[string]string{} // schema → id → reason
	for _, m := range dlq {
		sc, ok := reg.Get(m.Header(deadletter.HeaderSchema))
		if !ok {
			return fmt.Sprintf("dead letter without a known schema header: %v", m.Headers)
		}
		if m.Header(deadletter.HeaderCode) == "" || m.Header(deadletter.HeaderMessage) == "" {
			return fmt.Sprintf("dead letter without a reason: %v", m.Headers)
		}
		var obj map[string]any
		if json.Unmarshal(m.Value, &obj) != nil {
			continue
		}
		if dead[sc.Name] == nil {
			dead[sc.Name] = map[string]string{}
		}
		key := obj[sc.Key[0]]
		if m.Header(deadletter.HeaderPayloadShape) == "platform" {
			// Refused before its mapping: the payload is in the platform's
			// own shape, the key where the mapping reads it.
			key = obj[platformKeys(t)[sc.Name]]
		}
		dead[sc.Name][fmt.Sprint(key)] = m.Header(deadletter.HeaderCode)
	}
	for _, sc := range reg.All() {
		rows := query(t, server, fmt.Sprintf("SELECT %s, epoch_us(%s), count(*) OVER (PARTITION BY %s) FROM %s",
			sc.Key[0], sc.VersionField, sc.Key[0], sc.Table))
		got := map[string]int64{}
		for _, r := range rows {
			if r[2].(float64) != 1 {
				return fmt.Sprintf("%s: key %v appears %v times", sc.Table, r[0], r[2])
			}
			got[r[0].(string)] = int64(r[1].(float64))
		}
		want := l.Valid[sc.Name]
		if len(got) != len(want) {
			return fmt.Sprintf("%s: %d rows, ledger has %d valid records", sc.Table, len(got), len(want))
		}
		for id, v := range want {
			us, ok := got[id]
			if !ok {
				return fmt.Sprintf("%s: %s missing", sc.Table, id)
			}
			if us != v.UpdatedAt.UnixMicro() {
				return fmt.Sprintf("%s: %s at version %d, ledger's latest is %d", sc.Table, id, us, v.UpdatedAt.UnixMicro())
			}
		}
		for id := range l.Invalid[sc.Name] {
			if _, ok := dead[sc.Name][id]; !ok {
				return fmt.Sprintf("%s: invalid record %s not in the dead-letter topic", sc.Name, id)
			}
		}
	}
	return ""
}

// waitLedger polls checkLedger until it holds or the deadline passes.
func waitLedger(t *testing.T, sim *simulate.Simulator, server, broker string, within time.Duration) {
	t.Helper()
	if diff := ledgerWithin(t, sim, server, broker, within); diff != "" {
		t.Fatalf("ledger check failed after %v: %s", within, diff)
	}
}

// ledgerWithin polls checkLedger until it holds ("") or the deadline
// passes (what still differs, with how the difference went, to tell a
// stall from slowness).
func ledgerWithin(t *testing.T, sim *simulate.Simulator, server, broker string, within time.Duration) string {
	t.Helper()
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	c := kafka.NewClient([]string{broker})
	defer c.Close()
	l := sim.Ledger()
	start := time.Now()
	deadline := start.Add(within)
	var diff string
	var seen []string
	lastSeen := time.Time{}
	for time.Now().Before(deadline) {
		if diff != "" && time.Since(lastSeen) >= 15*time.Second {
			seen = append(seen, fmt.Sprintf("at %.0fs: %s", time.Since(start).Seconds(), diff))
			lastSeen = time.Now()
		}
		dlq, err := c.ReadAll(context.Background(), deadletter.Topic)
		if err != nil { // e.g. a connection to a broker that restarted
			diff = "read the dead letters: " + err.Error()
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if diff = checkLedger(t, reg, l, server, dlq); diff == "" {
			return ""
		}
		time.Sleep(500 * time.Millisecond)
	}
	return diff + "; every 15 s before: " + strings.Join(seen, " | ")
}

func testKey() *pii.Key {
	k, err := pii.NewKey(bytes.Repeat([]byte("k"), 32), "t1")
	if err != nil {
		panic(err)
	}
	return k
}

// rawPersonal returns every resident ID and phone number the simulated
// sources hold in clear.
func rawPersonal(l simulate.Ledger) map[string]bool {
	out := map[string]bool{}
	for _, recs := range l.Valid {
		for _, v := range recs {
			var obj map[string]any
			_ = json.Unmarshal(v.JSON, &obj)
			for _, f := range []string{"head_id_number", "head_phone", "contact_phone", "reporter_phone", "member_id_number"} {
				if s, ok := obj[f].(string); ok && s != "" {
					out[s] = true
				}
			}
		}
	}
	return out
}

var digitRun = regexp.MustCompile(`[0-9][0-9Xx]{10,17}`)

// leaks returns the raw personal values found in text.
func leaks(text string, raw map[string]bool) []string {
	var out []string
	for _, run := range digitRun.FindAllString(text, -1) {
		for i := 0; i+11 <= len(run); i++ {
			for _, n := range []int{11, 18} {
				if i+n <= len(run) && raw[run[i:i+n]] {
					out = append(out, run[i:i+n])
				}
			}
		}
	}
	return out
}

// dropHeaderless drops a GBK store ledger without its title line, whose
// first data row carries a raw mobile and ID number of the sources, and
// waits for its report: failed, and saying the header row is not one.
func dropHeaderless(t *testing.T, p *running, raw map[string]bool) string {
	t.Helper()
	var phone, id string
	for v := range raw {
		switch {
		case len(v) == 11 && phone == "":
			phone = v
		case len(v) == 18 && id == "":
			id = v
		}
	}
	if phone == "" || id == "" {
		t.Fatal("no raw phone and ID number in the sources")
	}
	csv := "门店编号,招牌名称,统一社会信用代码,门店类别,网格编码,经营面积（平方米）,从业人数,特征,联系电话,最近走访时间,最近消防检查,更新时间\r\n" +
		"S-NOHEAD-1,老王小吃 " + id + ",91220101MA0000000X,小餐饮,220173002001001,35,3,使用燃气," + phone + ",2026-11-20 10:00,2026-11-01,2026-11-20 10:00\r\n" +
		"S-NOHEAD-2,小李商店,91220101MA0000001X,小商店,220173002001001,20,1,,13800000000,2026-11-21 10:00,2026-11-02,2026-11-21 10:00\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csv)
	if err != nil {
		t.Fatal(err)
	}
	name := "十小门店台账_无标题行.csv"
	if err := os.WriteFile(filepath.Join(p.drop, "store", name), []byte(gbk), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Files []api.FileReport
		}
		getJSON(t, "http://"+p.server+"/api/v1/files?source=ledger.store&limit=1000", &list)
		for _, f := range list.Files {
			if f.File != name {
				continue
			}
			if f.Status != filedrop.StatusFailed || !strings.Contains(f.Error+f.Message, "header") {
				t.Fatalf("the header-less ledger: %s %q %q", f.Status, f.Error, f.Message)
			}
			return name
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the header-less ledger has no report after 60 s")
	return ""
}

func newSim(token string) (*simulate.Simulator, *httptest.Server) {
	sim := simulate.New(simulate.Config{Seed: testSeed, Scale: 0.01, InvalidShare: 0.05, Token: token, Now: time.Now})
	return sim, httptest.NewServer(sim.Handler())
}

// TestLedgerEndToEnd: thousands of records through simulated sources,
// connectors, the embedded broker and the loader; every valid record ends
// in its table once at its latest version, every invalid one in the
// dead-letter topic with a reason.
func TestLedgerEndToEnd(t *testing.T) {
	sim := simulate.New(simulate.Config{Seed: testSeed, Scale: 0.01, InvalidShare: 0.05, Token: "tok", Now: time.Now})
	p := startDemo(t, sim, "tok", nil)
	for range 10 {
		sim.Step(500)
		time.Sleep(100 * time.Millisecond)
	}
	waitLedger(t, sim, p.server, p.broker, 90*time.Second)
	counts := sim.Counts()
	total, invalid := 0, 0
	for _, c := range counts {
		total += c.Versions
		invalid += c.Invalid
	}
	t.Logf("checked %d record versions, %d invalid records", total, invalid)
	if total < 5000 || invalid == 0 {
		t.Fatalf("the run was too small to prove anything: %d versions, %d invalid", total, invalid)
	}
	// Personal data never reached a table or a topic in clear; pseudonyms
	// and masked forms did.
	rows := query(t, p.server, "SELECT count(*) FROM duckdb_columns() WHERE column_name IN ('head_id_number','head_phone','contact_phone','reporter_phone','member_id_number')")
	if rows[0][0].(float64) != 0 {
		t.Fatal("a personal-data column exists")
	}
	raw := rawPersonal(sim.Ledger())
	if len(raw) < 100 {
		t.Fatalf("only %d personal values in the sources: the check would prove little", len(raw))
	}
	rows = query(t, p.server, "SELECT count(*), count(head_id_number_key), count(DISTINCT head_id_number_key), min(head_id_number_masked) FROM households")
	if rows[0][1].(float64) == 0 || !strings.Contains(rows[0][3].(string), "***********") {
		t.Fatalf("households lack pseudonyms or masked forms: %v", rows)
	}
	reg, _ := schemas.LoadEmbedded()
	var dump strings.Builder
	for _, sc := range reg.All() {
		for _, r := range query(t, p.server, "SELECT * FROM "+sc.Table) {
			fmt.Fprintln(&dump, r...)
		}
	}
	c := kafka.NewClient([]string{p.broker})
	defer c.Close()
	for _, sc := range reg.All() {
		msgs, err := c.ReadAll(context.Background(), sc.Topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			dump.Write(m.Value)
			dump.Write(m.Key)
		}
	}
	dlq, err := c.ReadAll(context.Background(), deadletter.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range dlq {
		dump.Write(m.Value)
		for _, h := range m.Headers {
			dump.Write(h.Value)
		}
	}
	// A store ledger whose title line was deleted: its first data row,
	// with a contact's mobile and an ID number typed into the sign, stands
	// where the header belongs. The file fails, and its report, the files
	// API and the logs say why without quoting a cell.
	headerless := dropHeaderless(t, p, raw)
	for _, u := range []string{"/api/v1/files?limit=1000", "/api/v1/files/report?" + url.Values{"file": {headerless}}.Encode()} {
		resp, err := http.Get("http://" + p.server + u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: HTTP %d %s", u, resp.StatusCode, b)
		}
		dump.Write(b)
	}
	reports := 0
	if err := filepath.WalkDir(p.drop, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, filedrop.ReportSuffix) {
			return err
		}
		b, err := os.ReadFile(path)
		reports++
		dump.Write(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if reports < 2 {
		t.Fatalf("%d file reports on disk: the check would prove little", reports)
	}
	resp0, err := http.Get("http://" + p.server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	dump.Write(mb)
	if l := leaks(dump.String(), raw); len(l) > 0 {
		t.Fatalf("%d raw personal values leaked into tables, topics, dead letters, file reports or metrics, e.g. %s", len(l), l[0][:3]+"…")
	}
	// Nor into the logs, nor any file the pipeline wrote: the broker's
	// segments (every topic, the cursor topic included) and the database.
	if p.logs.String() == "" {
		t.Fatal("the pipeline logged nothing: the log check would prove nothing")
	}
	if l := leaks(p.logs.String(), raw); len(l) > 0 {
		t.Fatalf("%d raw personal values leaked into the logs, e.g. %s", len(l), l[0][:3]+"…")
	}
	// The same person gets the same pseudonym in two platforms: heads of
	// households (grid platform, REST API) who reported repairs to the
	// property system (its PostgreSQL table) join on the phone's key, and
	// exactly as often as their raw numbers match in the sources.
	checkSamePseudonym(t, sim.Ledger(), p.server)
	// The tables endpoint shows every table with rows.
	resp, err := http.Get("http://" + p.server + "/api/v1/tables")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tables struct {
		Tables []struct {
			Table string
			Rows  int
		}
	}
	if err := json.Unmarshal(b, &tables); err != nil {
		t.Fatal(err)
	}
	l := sim.Ledger()
	listed := map[string]int{}
	for _, tb := range tables.Tables {
		listed[tb.Table] = tb.Rows
	}
	for _, sc := range reg.All() {
		if n, ok := listed[sc.Table]; !ok || n != len(l.Valid[sc.Name]) {
			t.Errorf("/api/v1/tables shows %s with %d rows (listed %v), ledger has %d", sc.Table, n, ok, len(l.Valid[sc.Name]))
		}
	}
	// The sources endpoint: every running source with records handed them over (its
	// cursor moved), fills its table, and those that sent invalid records
	// show their dead letters by reason.
	resp, err = http.Get("http://" + p.server + "/api/v1/sources")
	if err != nil {
		t.Fatal(err)
	}
	var sources struct{ Sources []api.Source }
	err = json.NewDecoder(resp.Body).Decode(&sources)
	resp.Body.Close()
	if err != nil || len(sources.Sources) != len(p.cfg.Sources) {
		t.Fatalf("/api/v1/sources: %v, %d sources, want %d", err, len(sources.Sources), len(p.cfg.Sources))
	}
	deadSources := 0
	for _, src := range sources.Sources {
		if !src.Enabled || len(l.Valid[src.Schema]) == 0 { // nothing to hand over in so small a run
			continue
		}
		if src.LastMovedAt == nil || src.Rows == 0 || src.NewestEvent == nil {
			t.Errorf("source %s: moved %v, %d rows, newest %v", src.Name, src.LastMovedAt, src.Rows, src.NewestEvent)
		}
		if len(src.DeadLetters) > 0 {
			deadSources++
		}
	}
	if deadSources == 0 {
		t.Error("no source shows its dead letters, though the district sent invalid records")
	}
	// Metrics carry freshness and dead letters.
	resp, err = http.Get("http://" + p.server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"yiwang_source_newest_event_timestamp_seconds{source=\"grid.grid_event\"}", "yiwang_deadletters_total{", "yiwang_loader_records_total{outcome=\"loaded\",table=\"grid_events\"}", "yiwang_connector_last_poll_timestamp_seconds{source=\"property.work_order\"}"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Stopped, the pipeline has flushed everything it wrote.
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	var files strings.Builder
	nfiles := 0
	if err := filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone since it was listed (DuckDB's WAL, removed by its last checkpoint): it holds nothing now
		}
		if err != nil {
			return err
		}
		nfiles++
		files.Write(b)
		files.WriteByte('\n')
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if l := leaks(files.String(), raw); len(l) > 0 {
		t.Fatalf("%d raw personal values leaked into the data directory's files, e.g. %s", len(l), l[0][:3]+"…")
	}
	t.Logf("no raw personal value in %d tables, the topics, the dead letters, %d file reports (a header-less ledger's among them), /api/v1/files, /metrics, %d bytes of logs or %d files (%d bytes) of the data directory",
		len(reg.All()), reports, len(p.logs.String()), nfiles, files.Len())
}

// checkSamePseudonym counts the work orders whose reporter's phone is a
// household head's, and the work-record cards of household heads (by
// resident ID), in the sources' raw numbers and in the tables by
// pseudonym, and wants the counts equal and not zero.
func checkSamePseudonym(t *testing.T, l simulate.Ledger, server string) {
	t.Helper()
	now := time.Now()
	norm := map[string]func(string) (string, error){
		"mobile": pii.NormalizeMobile,
		"id":     func(s string) (string, error) { return pii.NormalizeID(s, now) },
	}
	value := func(v simulate.Version, field, kind string) string {
		rec, err := v.Record()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := rec[field].(string)
		n, err := norm[kind](raw)
		if err != nil {
			return ""
		}
		return n
	}
	for _, c := range []struct {
		kind, table, typ, field, via string
	}{
		{"mobile", "work_orders", "work_order", "reporter_phone", "the property system's PostgreSQL"},
		{"id", "team_records", "team_record", "member_id_number", "the grid platform's work-record cards"},
	} {
		headField := map[string]string{"mobile": "head_phone", "id": "head_id_number"}[c.kind]
		heads := map[string]bool{}
		for _, v := range l.Valid["household"] {
			if p := value(v, headField, c.kind); p != "" {
				heads[p] = true
			}
		}
		want := 0
		for _, v := range l.Valid[c.typ] {
			if p := value(v, c.field, c.kind); p != "" && heads[p] {
				want++
			}
		}
		rows := query(t, server, fmt.Sprintf(`SELECT count(*) FROM %s r
WHERE EXISTS (SELECT 1 FROM households h WHERE h.%s_key = r.%s_key)`, c.table, headField, c.field))
		got := int(rows[0][0].(float64))
		if want == 0 || got != want {
			t.Fatalf("%s of household heads: %d joined by pseudonym, %d by raw number in the sources", c.table, got, want)
		}
		t.Logf("%d %s (%s) join households (REST API) by the %s's pseudonym, as their raw numbers do", got, c.table, c.via, c.field)
	}
}

// TestCalendarTable: the working-day calendar is in SQL, with the 2026
// Spring Festival and its make-up Saturdays, and working seconds per day.
func TestCalendarTable(t *testing.T) {
	p := startPipeline(t, "http://127.0.0.1:1", t.TempDir(), "127.0.0.1:0", "tok", func(c *Config) { c.Sources = nil })
	rows := query(t, p.server, `SELECT strftime(date, '%Y-%m-%d'), kind, is_workday, holiday, working_seconds FROM calendar
		WHERE date IN ('2026-02-13', '2026-02-14', '2026-02-16', '2026-02-28', '2026-03-01') ORDER BY date`)
	want := [][]any{
		{"2026-02-13", "workday", true, nil, float64(28800)},
		{"2026-02-14", "makeup_workday", true, "春节", float64(28800)},
		{"2026-02-16", "holiday", false, "春节", float64(0)},
		{"2026-02-28", "makeup_workday", true, "春节", float64(28800)},
		{"2026-03-01", "weekend", false, nil, float64(0)},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("calendar rows\n got %v\nwant %v", rows, want)
	}
	// Working days in February 2026: 20 weekdays, less 6 holiday weekdays
	// (16-20 and 23 February), plus 2 make-up Saturdays (14 and 28).
	rows = query(t, p.server, `SELECT count(*) FILTER (WHERE is_workday) FROM calendar WHERE date BETWEEN '2026-02-01' AND '2026-02-28'`)
	if rows[0][0].(float64) != 16 {
		t.Fatalf("February 2026 has %v working days, want 16", rows[0][0])
	}
}
