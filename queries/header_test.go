package queries

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestParseBad checks the messages for every broken header in
// testdata/bad against its .golden file: every problem, with its place.
func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata/bad/*.sql", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.ToSlash(f), raw)
			if err == nil {
				t.Fatal("accepted")
			}
			golden(t, strings.TrimSuffix(f, ".sql")+".golden", err.Error()+"\n")
		})
	}
}

func TestParseSmall(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"bom", "\ufeff/*\n*/\n", "x.sql:1:1: file starts with a byte-order mark"},
		{"invalid utf-8", "/*\nname: \xff\n*/\n", "x.sql:2: not valid UTF-8"},
		{"nul", "/*\n\x00*/\n", "x.sql:2: contains a NUL byte"},
		{"empty header", "/*\n*/\nSELECT 1\n", "x.sql:1: header is empty"},
		{"nested comment", "/*\nname: a /* b\n*/\n", `x.sql:2:9: "/*" inside the header`},
		{"two documents", "/*\nname: x\n---\nname: y\n*/\n", "x.sql:3: a second YAML document starts here"},
		{"alias", "/*\nname: &n x\ntitle: *n\n*/\n", "x.sql:3:8: title: YAML aliases (*name) are not allowed"},
		{"list header", "/*\n- a\n*/\n", "x.sql:2:1: must be a mapping of name"},
		{"crlf", "/*\r\nname: x\r\nkind: indicator\r\n*/\r\nSELECT 1\r\n", "x.sql:2:1: title: missing; add it"},
		{"unterminated string", "/*\nname: x\n*/\nSELECT 'a\n", "x.sql:4:8: sql: a string, quoted name or comment starting here is never closed"},
		{"dollar string", "/*\nname: x\n*/\nSELECT $$ ; $x $$ AS a, $1\n", "x.sql:4:25: sql: positional parameters are not bound"},
		{"not select", "/*\nname: x\n*/\n  update t set a = 1\n", "x.sql:4:3: sql: UPDATE: a query is one SELECT"},
		{"duplicate key", "/*\nname: x\nname: y\n*/\n", "x.sql:3:1: name: given twice (first on line 2); keep one"},
		{"bad name", "/*\nname: X-1\n*/\n", `x.sql:2:7: name: "X-1" is not a query name`},
		{"number as text", "/*\ntitle: {zh: 1, en: two}\n*/\n", "x.sql:2:13: title.zh: must be a string, got 1; quote it"},
		{"thresholds reversed", "/*\ndirection: lower_is_better\nthresholds: {normal: {warn: 5, alert: 1}}\n*/\n", "x.sql:3:39: thresholds.normal.alert: 1 is below warn 5"},
		{"never fires", "/*\nschedule: {normal: \"0 0 30 2 *\"}\n*/\n", "never fires"},
		{"tz prefix", "/*\nschedule: {normal: \"TZ=UTC 0 0 * * *\"}\n*/\n", "time zones and @descriptors are not accepted"},
		{"negative", "/*\nmin_denominator: -1\n*/\n", "x.sql:2:18: min_denominator: must be 0 or more, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.sql", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestFormatRoundTrip formats every embedded query and parses it back.
func TestFormatRoundTrip(t *testing.T) {
	c, err := LoadEmbedded(registry(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range c.Queries() {
		t.Run(q.Name, func(t *testing.T) {
			back, err := Parse(q.File, Format(q))
			if err != nil {
				t.Fatalf("%v\n%s", err, Format(q))
			}
			if !reflect.DeepEqual(back.Header, q.Header) || back.SQL != q.SQL {
				t.Errorf("round trip changed the query:\n%s", Format(q))
			}
		})
	}
	q := &Query{Header: Header{Name: "x", Schedule: Schedule{Normal: "*/5 * * * *"}, Definition: Definition{Source: "a/*b"}}}
	out := Format(q)
	if bytes.Contains(out[2:len(out)-2], []byte("*/")) || bytes.Count(out, []byte("/*")) != 1 {
		t.Errorf("comment markers not escaped:\n%s", out)
	}
}

// TestCatalogProblems checks the catalog's messages: inputs against the
// tables at Load, and the SQL against DuckDB at Check.
func TestCatalogProblems(t *testing.T) {
	ctx := context.Background()
	reg := fewSchemas(t)
	_, err := Load(os.DirFS("testdata/catalog"), "load", reg)
	if err == nil {
		t.Fatal("load accepted testdata/catalog/load")
	}
	golden(t, "testdata/catalog/load.golden", err.Error()+"\n")

	c, err := Load(os.DirFS("testdata/catalog"), "check", reg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckScratch(ctx)
	if err == nil {
		t.Fatal("check accepted testdata/catalog/check")
	}
	golden(t, "testdata/catalog/check.golden", err.Error()+"\n")
	if strings.Contains(err.Error(), "good.sql") {
		t.Error("good.sql has problems")
	}
}

func TestLoadDuplicateAndEmpty(t *testing.T) {
	reg := registry(t)
	good, err := os.ReadFile("testdata/catalog/check/good.sql")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"a/good.sql": {Data: good}, "b/good.sql": {Data: good}}
	c, err := Load(fsys, "a", reg)
	if err != nil {
		t.Fatal(err)
	}
	if q, ok := c.Get("good"); !ok || q.MinDenominator != DefaultMinDenominator || len(c.Queries()) != 1 {
		t.Errorf("got %+v", c.Queries())
	}
	if c, err := Load(fsys, "none", reg); err != nil || len(c.Queries()) != 0 {
		t.Errorf("empty folder: %v", err)
	}
}

// FuzzQueryHeader feeds arbitrary files to Parse: it must not panic, and
// what it accepts must come back the same through Format.
func FuzzQueryHeader(f *testing.F) {
	for _, pattern := range []string{"indicators/*.sql", "rules/*.sql", "testdata/bad/*.sql", "testdata/catalog/*/*.sql"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	nameLine := regexp.MustCompile(`(?m)^name:[ \t]*(\S+)`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Name the file after the header, so that headers the fuzzer
		// mutates can still be accepted.
		file := "fuzz.sql"
		if m := nameLine.FindSubmatch(raw); m != nil {
			file = string(m[1]) + ".sql"
		}
		q, err := Parse(file, raw)
		if err != nil {
			return
		}
		out := Format(q)
		back, err := Parse(file, out)
		if err != nil {
			t.Fatalf("formatted query does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back.Header, q.Header) || back.SQL != q.SQL {
			t.Fatalf("round trip changed the query:\n%#v\n%#v\n%s", q.Header, back.Header, out)
		}
	})
}
