package filedrop

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// FuzzDecodeRow: any cell text makes a record that is a JSON object, and a
// cell that could not be read (a note) makes a record the schema refuses,
// so that it ends as a dead letter rather than loaded half-read.
func FuzzDecodeRow(f *testing.F) {
	sc := schema(f, "door_visit")
	cfg := doorConfig(f.TempDir())
	p, errs := newPlan(&cfg, sc)
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	f.Add("220173002001004", "住户", "H1", "社区工作者", "2026-11-26 08:00", "已见面", "125.3", "43.8", "人口、车辆")
	f.Add("22017300200100", "门店", "S0042", "", "2026/11/26 8:20", "已拒访", "１２５．３", "abc", "")
	f.Add("220173002001004", "household", "𠮷", "police", "46352.4375", "met", "NaN", "1e400", ",,、")
	f.Add("220173002001004", "楼栋", "B1", "三长", "2026-11-26T08:00:00+08:00", "moved", "-180", "90", "a;b；c")
	f.Add("\x00", "\xff\xfe", "\"", "\\", "2026-11-26t08:00:00z", "{}", "0x10", "+5", "\u2028")
	fields := []string{"grid_code", "target_type", "target_id", "visitor_role", "visited_at", "outcome", "lon", "lat", "fields_updated"}
	mtime := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, grid, typ, target, role, when, outcome, lon, lat, updated string) {
		var cells []cell
		for i, text := range []string{grid, typ, target, role, when, outcome, lon, lat, updated} {
			if text = cleanCell(text); text != "" {
				cells = append(cells, cell{fields[i], text})
			}
		}
		raw, notes := p.build(map[string]any{}, cells, mtime)
		if !json.Valid(raw) {
			t.Fatalf("not JSON: %q", raw)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			t.Fatalf("not an object: %q", raw)
		}
		if id := cleanCell(target); id != "" && utf8.ValidString(id) && obj["target_id"] != id {
			t.Fatalf("target_id %q came back as %q", id, obj["target_id"])
		}
		if len(notes) > 0 {
			if err := sc.Validate(obj, nil, mtime); err == nil {
				t.Fatalf("record with notes %v is valid: %s", notes, raw)
			}
		}
	})
}

// FuzzCSV: any bytes as a CSV ledger, in any encoding setting, are read
// without panic; every record is a JSON object and row numbers increase.
func FuzzCSV(f *testing.F) {
	sc := schema(f, "door_visit")
	cfg := doorConfig(f.TempDir())
	seed, err := os.ReadFile("testdata/ledger.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, uint8(0))
	noBOM := bytes.TrimPrefix(seed, bomUTF8)
	gbkSeed, _ := simplifiedchinese.GBK.NewEncoder().Bytes(noBOM)
	f.Add(gbkSeed, uint8(0))
	f.Add(gbkSeed, uint8(2))
	f.Add(noBOM, uint8(1))
	f.Add([]byte("标题\n网格编码,走访时间\n\"220173002001004\n,\"x\"\"\n"), uint8(3))
	f.Add([]byte{0xFF, 0xFE, 0x00}, uint8(0))
	var sources []*Source
	for _, enc := range []string{EncodingAuto, EncodingUTF8, EncodingGBK, EncodingGB18030} {
		c := cfg
		c.Encoding = enc
		src, err := New(c, sc)
		if err != nil {
			f.Fatal(err)
		}
		sources = append(sources, src)
	}
	f.Fuzz(func(t *testing.T, data []byte, enc uint8) {
		if _, err := decodeCSV(sources[int(enc)%len(sources)], data); err != nil {
			t.Fatal(err)
		}
	})
}

// decodeCSV reads data as the source reads a CSV file, checking each
// record; it returns how many it made.
func decodeCSV(s *Source, data []byte) (int, error) {
	u := newUTF8Scan()
	_, _ = u.Write(data)
	enc, err := detect(s.cfg.Encoding, u)
	if err != nil {
		return 0, nil // the file goes to failed/
	}
	c := &current{format: FormatCSV, enc: enc}
	c.rows = newCSVRows(bytes.NewReader(data), enc, s.comma, s.cfg.MaxRowBytes, nil)
	if err := s.header(c); err != nil {
		return 0, nil
	}
	n, last := 0, 0
	for {
		row, cells, err := c.rows.next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, nil // the file goes to failed/
		}
		if row <= last {
			return n, errors.New("row numbers do not increase")
		}
		last = row
		raw, _, _, blank := s.record(c, cells)
		if blank {
			continue
		}
		n++
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return n, errors.New("record is not a JSON object: " + string(raw))
		}
	}
}

func TestDecodeCSVSeeds(t *testing.T) {
	sc := schema(t, "door_visit")
	seed, err := os.ReadFile("testdata/ledger.csv")
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(doorConfig(t.TempDir()), sc)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := decodeCSV(src, seed); err != nil || n != 7 {
		t.Fatalf("%d records, %v", n, err)
	}
}

// FuzzLimits: the CSV record limit and the XML scanner, on any bytes and
// any limit, never let a reader hold a row over the limit: every record
// read fits it, a read that fails names a row no earlier than the last
// read; the scanner's row numbers and the rows it lets excelize read stay
// in order.
func FuzzLimits(f *testing.F) {
	seed, err := os.ReadFile("testdata/ledger.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, uint16(64))
	f.Add([]byte("a,b\n\n\r\n\"x\ny\",z\n"+strings.Repeat("q", 300)+"\nend\n"), uint16(100))
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c><v>1</v></c></row><row><c t="inlineStr"><is><t><![CDATA[<<>>]]></t></is></c></row><!-- <row> --></sheetData></worksheet>`), uint16(40))
	f.Add([]byte(`<row r='3' a=">"/><x:row r="9"><x:c/></x:row><row r="2">`+strings.Repeat("z", 100)+`</row>`), uint16(50))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		limit := int64(max%4096) + 1
		rows := newCSVRows(bytes.NewReader(data), EncodingUTF8, ',', limit, nil)
		last, from := 0, int64(0)
		for {
			row, _, err := rows.next()
			if rows.lim.n-from > limit+readSlack+1 {
				t.Fatalf("%d bytes handed to the CSV reader for one record, limit %d", rows.lim.n-from, limit)
			}
			if err != nil {
				var long *rowTooLong
				if errors.As(err, &long) && long.row < last {
					t.Fatalf("row %d too long after row %d was read", long.row, last)
				}
				break
			}
			end := rows.r.InputOffset()
			if end-from > limit {
				t.Fatalf("a record of %d bytes read, limit %d", end-from, limit)
			}
			last, from = row, end
		}
		for _, span := range []string{"row", "si"} {
			s := newXMLScan(span, limit)
			var v *xmlViolation
			for b := data; len(b) > 0 && v == nil; b = b[min(len(b), 7):] {
				v = s.write(b[:min(len(b), 7)])
			}
			if v != nil && (v.after > v.before || v.inRow && v.after != v.before) {
				t.Fatalf("violation %+v", v)
			}
			if s.prev > s.last && s.last != 0 && span == "row" && !bytes.Contains(data, []byte(" r=")) {
				t.Fatalf("rows out of order: %d then %d", s.prev, s.last)
			}
		}
	})
}
