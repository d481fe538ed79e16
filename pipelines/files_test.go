package pipelines

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/connectors/filedrop"
	"github.com/yiwang-gov/yiwang/internal/api"
)

// TestFileReportsAPI drops a ledger with bad rows into a file-drop source of
// a running pipeline and reads its report back through GET /api/v1/files
// and /api/v1/files/report: the counts, and every rejected row by row
// number, column and reason.
func TestFileReportsAPI(t *testing.T) {
	var sources []SourceConfig
	if err := yaml.Unmarshal([]byte(filedrop.SampleConfig), &sources); err != nil {
		t.Fatal(err)
	}
	drop := t.TempDir()
	src := sources[0]
	src.Name = "ledger.test"
	src.Every = 100 * time.Millisecond
	src.File.Dir = drop
	src.File.StableFor = 200 * time.Millisecond

	_, web := newSim("tok")
	defer web.Close()
	run := startPipeline(t, web.URL, t.TempDir(), "127.0.0.1:0", "tok", func(c *Config) { c.Sources = append(c.Sources, src) })

	b, err := os.ReadFile("../connectors/filedrop/testdata/ledger.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "ledger.csv"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	var list struct{ Files []api.FileReport }
	deadline := time.Now().Add(30 * time.Second)
	for len(list.Files) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dropped ledger was not reported within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
		getJSON(t, "http://"+run.server+"/api/v1/files?source=ledger.test", &list)
	}
	f := list.Files[0]
	if f.Source != "ledger.test" || f.File != "ledger.csv" || f.StoredAs != "done/ledger.csv" || f.Status != filedrop.StatusLoaded {
		t.Fatalf("report: %+v", f)
	}
	// Row 9's community 220173002002 is unknown to the connector's own tests
	// but in the demo district's reference: 4 rows go through here.
	if f.Rows != 7 || f.Produced != 4 || f.Rejected != 3 || f.RejectedRows != nil {
		t.Fatalf("rows %d produced %d rejected %d (want 7, 4, 3, rows left out of the list): %+v", f.Rows, f.Produced, f.Rejected, f)
	}

	// The produced rows are in the table once the loader caught up.
	ids := "('H220173002001004001', 'H220173002001004002', 'H220173002002001001', 'K0007')"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		rows := query(t, run.server, "SELECT count(*) FROM door_visits WHERE target_id IN "+ids)
		if rows[0][0].(float64) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("door_visits holds %v of the ledger's 4 good rows", rows[0][0])
		}
	}

	var one api.FileReport
	getJSON(t, "http://"+run.server+"/api/v1/files/report?"+url.Values{"file": {"ledger.csv"}}.Encode(), &one)
	type row struct {
		row            int
		column, reason string
	}
	want := []row{{5, "网格编码", "bad_area_code"}, {6, "走访结果", "schema_violation"}, {8, "走访时间", "schema_violation"}}
	if len(one.RejectedRows) != len(want) {
		t.Fatalf("rejected rows: %+v", one.RejectedRows)
	}
	for i, w := range want {
		g := one.RejectedRows[i]
		if g.Row != w.row || g.Column != w.column || g.Reason != w.reason || g.Message == "" {
			t.Errorf("rejected row %d: got %+v, want %+v", i, g, w)
		}
	}

	for _, q := range []string{"/api/v1/files?source=nope", "/api/v1/files?status=weird", "/api/v1/files/report"} {
		resp, err := http.Get("http://" + run.server + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", q, resp.StatusCode)
		}
	}
	resp, err := http.Get("http://" + run.server + "/api/v1/files/report?file=other.csv")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown file: HTTP %d, want 404", resp.StatusCode)
	}
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
