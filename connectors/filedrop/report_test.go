package filedrop

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeaderMismatchNeverEchoesCells: a store ledger without the title row
// that header_row: 2 expects puts a data row where the header belongs. The
// failure says how many cells the row has and which headers are missing,
// and quotes none of its cells: neither the mobile (x-pii hmac) nor an ID
// number reaches the report, its message or the list of reports.
func TestHeaderMismatchNeverEchoesCells(t *testing.T) {
	sc := schema(t, "store")
	dir := t.TempDir()
	csv := "门店编号,招牌名,类别,网格编码,联系电话,面积,人数,最近消防检查\n" +
		"S001,220104195603150425,餐饮,220173002001004,13912345678,35.5,3,2026/10/1\n" +
		"S002,平价超市,零售,220173002001004,13912345679,80,2,2026-10-02\n"
	writeFile(t, filepath.Join(dir, "stores.csv"), []byte(csv))
	cfg := Config{Dir: dir, HeaderRow: 2,
		Columns: map[string]string{"门店编号": "store_id", "招牌名": "signboard", "类别": "store_category", "网格编码": "grid_code",
			"联系电话": "contact_phone", "面积": "area_m2", "人数": "staff_n", "最近消防检查": "last_fire_check_on"},
		Values: map[string]map[string]string{"store_category": {"餐饮": "catering", "零售": "shop"}},
	}
	src, _ := newSource(t, cfg, sc)
	if res := drive(t, src, sc, "", 2); res.records != 0 {
		t.Fatalf("%d records", res.records)
	}
	path := filepath.Join(dir, FailedDir, "stores.csv"+ReportSuffix)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reps, err := Reports(dir)
	if err != nil || len(reps) != 1 {
		t.Fatalf("Reports: %v, %v", reps, err)
	}
	listed, _ := json.Marshal(reps)
	for _, raw := range []string{"13912345678", "220104195603150425", "好再来饭店", "0425", "5678"} {
		if bytes.Contains(b, []byte(raw)) || bytes.Contains(listed, []byte(raw)) {
			t.Fatalf("%s in the report:\n%s", raw, b)
		}
	}
	rep := readReport(t, path)
	for _, want := range []string{"the header row 2 lacks the column 门店编号 (store_id, required)", "lacks the column 网格编码 (grid_code, required)",
		"row 2 has 8 cells, 0 of them a header of columns; check header_row (2)"} {
		if !strings.Contains(rep.Error, want) || !strings.Contains(rep.Message, want) {
			t.Errorf("error %q lacks %q", rep.Error, want)
		}
	}
	if len(rep.IgnoredColumns) != 0 {
		t.Errorf("ignored columns of a header that is not one: %q", rep.IgnoredColumns)
	}
}

// TestMessagesMaskNumbers: a value quoted in a report's message (a cell
// that is not a number, an unknown label) has its ID and mobile numbers
// masked as in dead letters, for a phone typed in the wrong column.
func TestMessagesMaskNumbers(t *testing.T) {
	sc := schema(t, "store")
	dir := t.TempDir()
	csv := "门店台账\n门店编号,招牌名,类别,网格编码,面积\n" +
		"S001,好再来,13912345678,220173002001004,35.5\n" + // a phone in the category column
		"S002,平价,餐饮,220173002001004,电话13912345678\n" // and in the area column
	writeFile(t, filepath.Join(dir, "stores.csv"), []byte(csv))
	cfg := Config{Dir: dir, HeaderRow: 2,
		Columns: map[string]string{"门店编号": "store_id", "招牌名": "signboard", "类别": "store_category", "网格编码": "grid_code", "面积": "area_m2"},
		Values:  map[string]map[string]string{"store_category": {"餐饮": "catering"}},
	}
	src, _ := newSource(t, cfg, sc)
	drive(t, src, sc, "", 2)
	b, err := os.ReadFile(filepath.Join(dir, DoneDir, "stores.csv"+ReportSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("13912345678")) || !bytes.Contains(b, []byte("139****5678")) {
		t.Fatalf("report:\n%s", b)
	}
}
