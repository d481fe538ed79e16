package api

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// query is a result to stream: it calls cols once, then row for each row,
// and says why it stopped early ("" when the result ended; "rows" or
// "bytes" when a cap cut it).
type query func(cols func([]string) error, row func([]any) error) (truncated string, err error)

// paging turns the row after a page's last into the next page: run asks
// for limit+1 rows; the extra row is not sent, and token makes the next
// page's cursor from the last row sent.
type paging struct {
	limit int
	token func(last []any) string
}

// writeQuery streams a result as JSON ({"columns", "rows", "truncated",
// "next"}) or, with ?format=csv or Accept: text/csv, as CSV with the next
// page's cursor in the X-Yiwang-Next trailer. Nothing is written before
// the first row arrives, so a query that fails at once is answered with
// its error and a proper status; one that fails later ends the answer with
// an "error" member (JSON) or a cut (CSV).
func writeQuery(w http.ResponseWriter, r *http.Request, run query, pg *paging, status int) {
	asCSV := r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv")
	var (
		columns []string
		started bool
		bw      = bufio.NewWriterSize(w, 32<<10)
		cw      *csv.Writer
		n       int
		last    []any
		held    []any // the row after the page, when paging
		buf     []byte
	)
	start := func() error {
		started = true
		if asCSV {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			if pg != nil {
				w.Header().Set("Trailer", "X-Yiwang-Next")
			}
			w.WriteHeader(status)
			cw = csv.NewWriter(bw)
			return cw.Write(columns)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		cols, _ := json.Marshal(columns)
		_, err := fmt.Fprintf(bw, `{"columns":%s,"rows":[`, cols)
		return err
	}
	emit := func(row []any) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		if asCSV {
			rec := make([]string, len(row))
			for i, v := range row {
				if v != nil {
					rec[i] = cellText(v)
				}
			}
			return cw.Write(rec)
		}
		var err error
		buf, err = json.Marshal(row)
		if err != nil {
			return err
		}
		if n > 0 {
			_ = bw.WriteByte(',')
		}
		_ = bw.WriteByte('\n')
		_, err = bw.Write(buf)
		return err
	}
	truncated, err := run(func(c []string) error { columns = c; return nil }, func(row []any) error {
		if pg != nil && n == pg.limit {
			held = row
			return errPageFull
		}
		if err := emit(row); err != nil {
			return err
		}
		n++
		last = row
		return nil
	})
	if errors.Is(err, errPageFull) {
		err, truncated = nil, ""
	}
	if err != nil && !started {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	if !started {
		if err := start(); err != nil {
			return
		}
	}
	next := ""
	if pg != nil && held != nil && last != nil {
		next = pg.token(last)
	}
	if asCSV {
		cw.Flush()
		_ = bw.Flush()
		if next != "" {
			w.Header().Set("X-Yiwang-Next", next)
		}
		if err != nil {
			slog.Warn("query failed while its answer was sent", "path", r.URL.Path, "err", err)
		}
		return
	}
	tail := map[string]any{"truncated": truncated != ""}
	if truncated != "" {
		tail["truncated_by"] = truncated
	}
	if pg != nil {
		tail["next"] = nil
		if next != "" {
			tail["next"] = next
		}
	}
	if err != nil {
		tail["error"] = err.Error()
	}
	t, _ := json.Marshal(tail)
	_, _ = bw.WriteString("\n],")
	_, _ = bw.Write(t[1:]) // the members of tail, after the rows
	_ = bw.WriteByte('\n')
	_ = bw.Flush()
}

type pageFull struct{}

func (pageFull) Error() string { return "page full" }

var errPageFull error = pageFull{}

func cellText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any, map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// encodeCursor and decodeCursor make a page cursor of a row's sort key.
func encodeCursor(key []any) string {
	b, _ := json.Marshal(key)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, n int) ([]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var key []any
	if err == nil {
		err = json.Unmarshal(b, &key)
	}
	if err != nil || len(key) != n {
		return nil, fmt.Errorf("after must be the next cursor of a previous page, got %q", s)
	}
	return key, nil
}
