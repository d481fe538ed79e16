package pipelines

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

func noEnv(string) (string, bool) { return "", false }

func TestDemoConfigParses(t *testing.T) {
	raw, dir := DemoConfig()
	cfg, err := Parse(raw, "newarea.yaml", dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 12 || cfg.Loader.BatchWait.String() != "200ms" || cfg.Kafka.Embedded.Listen != "127.0.0.1:9092" {
		t.Fatalf("unexpected config %+v", cfg)
	}
	// Every record type comes in by exactly one running source, and the
	// four transports are all used.
	types, schemasOn := map[string]bool{}, map[string]int{}
	for _, s := range cfg.Sources {
		if s.On() {
			types[s.Type] = true
			schemasOn[s.Schema]++
		}
	}
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != 4 || len(schemasOn) != len(reg.Names()) {
		t.Fatalf("transports %v, record types %v", types, schemasOn)
	}
	for sc, n := range schemasOn {
		if n != 1 {
			t.Errorf("%s comes in by %d sources", sc, n)
		}
	}
	if cfg.Sources[0].HTTP.URL != "http://127.0.0.1:8081/api/grid/grid_event" {
		t.Fatalf("default not expanded: %s", cfg.Sources[0].HTTP.URL)
	}
	if probs := Check("newarea.yaml", "", noEnv); len(probs) != 0 {
		t.Fatalf("check of the demo pipeline: %v", probs)
	}
}

// TestCheckGolden pins the messages of `yiwang check` for broken files: each
// testdata/*.bad.yaml has its expected output in *.bad.golden.
func TestCheckGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			probs := Check(f, "", noEnv)
			if len(probs) == 0 {
				t.Fatal("no problems reported")
			}
			var b strings.Builder
			for _, p := range probs {
				b.WriteString(p.Error())
				b.WriteByte('\n')
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCheckGolden -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": ""}
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "x", ""},
		{"a${A}b${A}", "axbx", ""},
		{"${B:-def}", "def", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${EMPTY}", "", ""},
		{"$$A", "$A", ""},
		{"${B}", "", "environment variable B is not set"},
		{"${B:?needed for x}", "", "B (needed for x)"},
		{"${B} ${C}", "", "B, C"},
		{"${", "", "malformed variable reference"},
		{"${1X}", "", "malformed variable reference"},
		{"cost $5", "cost $5", ""},
	} {
		got, err := Interpolate(tc.in, get)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{"${A}", "${A:-b}", "${A:?m}", "$$", "x${", "${A:-${B}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		get := func(k string) (string, bool) { return "v", k == "A" }
		out, err := Interpolate(s, get)
		if err == nil && !strings.Contains(s, "$") && out != s {
			t.Fatalf("text without $ changed: %q → %q", s, out)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	raw, _ := DemoConfig()
	f.Add(raw)
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b, "fuzz.yaml", "testdata", noEnv) // must not panic
	})
}

// TestCheckRefusesIncompatibleSchemaChange: against an existing database,
// `yiwang check` refuses a schema that lost a field, and says the way out.
func TestCheckRefusesIncompatibleSchemaChange(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "yiwang.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := schemas.LoadEmbedded()
	if err := st.MigrateSchemas(ctx, reg); err != nil {
		t.Fatal(err)
	}
	// As if an older schema version had a field the current one lacks.
	if _, err := st.DB().Exec("ALTER TABLE grid_events ADD COLUMN legacy_note VARCHAR"); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	env := func(k string) (string, bool) {
		if k == "YIWANG_DATA" {
			return dir, true
		}
		return "", false
	}
	probs := Check("newarea.yaml", "", env)
	if len(probs) != 1 || !strings.Contains(probs[0].Error(),
		"grid_event.schema.json: table grid_events: column legacy_note is no longer in the schema; removing a field needs a new major version (yiwang.grid_event.v2)") {
		t.Fatalf("problems: %v", probs)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"256MiB": 256 << 20, "1.5 GB": 1_500_000_000, "1048576": 1 << 20,
		"8mib": 8 << 20, "2KiB": 2048, "300 b": 300, "1TB": 1e12} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "0", "1..5GB", "12 parsecs", "NaN", "Inf", "1e3MB", "2PiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"256MiB", "1.5 GB", "7", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && (n < 1 || n > 1<<50) {
			t.Fatalf("ParseSize(%q) = %d outside 1 B..1 PiB", s, n)
		}
	})
}

// cpu: shares are per core, rounded, never below one.
func TestCPUShares(t *testing.T) {
	n := cores()
	c := CPUConfig{GoProcsPerCore: 2, DuckDBThreadsPerCore: 0.5}
	if got := c.goProcs(); got != 2*n {
		t.Errorf("go_procs_per_core 2 on %d cores: %d Ps, want %d", n, got, 2*n)
	}
	if got, want := c.duckDBThreads(), max(1, int(math.Round(0.5*float64(n)))); got != want {
		t.Errorf("duckdb_threads_per_core 0.5 on %d cores: %d threads, want %d", n, got, want)
	}
	if got := (CPUConfig{DuckDBThreadsPerCore: 0.01}).duckDBThreads(); got != 1 {
		t.Errorf("a tiny share gives %d threads, want at least 1", got)
	}
	if got := (CPUConfig{}).goProcs() + (CPUConfig{}).duckDBThreads(); got != 0 {
		t.Errorf("no cpu: section sets %d, want 0 (the defaults)", got)
	}
}

// The runtime's settings are the process's: a pipeline sets them while it
// runs and puts back the values before.
func TestApplyRuntimeRestores(t *testing.T) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMAXPROCS") != "" || os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("the environment sets the runtime's values, which the file then leaves alone")
	}
	gogc := func() int { old := debug.SetGCPercent(100); debug.SetGCPercent(old); return old }
	procs, gc, limit := runtime.GOMAXPROCS(0), gogc(), debug.SetMemoryLimit(-1)
	cfg := &Config{Memory: MemoryConfig{Go: "300MiB", GoGC: 30}, CPU: CPUConfig{GoProcsPerCore: 2}}
	restore := cfg.ApplyRuntime()
	if got := gogc(); got != 30 {
		t.Errorf("GOGC while it runs: %d, want 30", got)
	}
	if got := runtime.GOMAXPROCS(0); got != 2*cores() {
		t.Errorf("GOMAXPROCS while it runs: %d, want %d", got, 2*cores())
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("memory limit while it runs: %d, want %d", got, 300<<20)
	}
	restore()
	if runtime.GOMAXPROCS(0) != procs || gogc() != gc || debug.SetMemoryLimit(-1) != limit {
		t.Errorf("after: GOMAXPROCS %d, GOGC %d, limit %d; want %d, %d, %d as before",
			runtime.GOMAXPROCS(0), gogc(), debug.SetMemoryLimit(-1), procs, gc, limit)
	}
}
