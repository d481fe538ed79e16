package api

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
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
	bytes int64 // the page's byte cap, when not MaxAnswerBytes
	token func(last []any) string
}

// writeQuery streams a result as JSON ({"columns", "rows", "truncated",
// "next"}) or, with ?format=csv or Accept: text/csv, as CSV with the next
// page's cursor in the X-Yiwang-Next trailer. Nothing is written before
// the first row arrives, so a query that fails at once is answered with
// its error and a proper status (504 for its time limit); one that fails
// later ends the answer with an "error" member (JSON) or an X-Yiwang-Error
// trailer (CSV). A page cut short by the byte cap, its time limit or an
// error still names the next page, from its last row. The error of a query
// yiwang wrote itself (internalError) is logged, not sent: it may quote
// the query and the values it was given.
func writeQuery(w http.ResponseWriter, r *http.Request, run query, pg *paging, status int) {
	asArrow := wantsArrow(r)
	asCSV := !asArrow && (r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv"))
	var aw *arrowWriter
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
		if asArrow {
			w.Header().Set("Content-Type", ArrowStream)
			if pg != nil {
				w.Header().Set("Trailer", "X-Yiwang-Next, X-Yiwang-Error")
			} else {
				w.Header().Set("Trailer", "X-Yiwang-Truncated, X-Yiwang-Error")
			}
			w.WriteHeader(status)
			aw = &arrowWriter{w: bw, columns: columns}
			return nil
		}
		if asCSV {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			if pg != nil {
				w.Header().Set("Trailer", "X-Yiwang-Next, X-Yiwang-Error")
			} else {
				w.Header().Set("Trailer", "X-Yiwang-Truncated, X-Yiwang-Error")
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
		if asArrow {
			return aw.row(append([]any(nil), row...))
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
	countRows(r, n)
	if errors.Is(err, errPageFull) {
		err, truncated = nil, ""
	}
	if err != nil && !started {
		code, shown := queryError(r, err)
		writeErr(w, code, shown)
		return
	}
	if err != nil {
		_, err = queryError(r, err)
	}
	if !started {
		if err := start(); err != nil {
			return
		}
	}
	next := ""
	if pg != nil && last != nil && (held != nil || truncated != "" || err != nil) {
		next = pg.token(last)
	}
	if asCSV || asArrow {
		if asArrow {
			if cerr := aw.close(); cerr != nil && err == nil {
				err = cerr
			}
		} else {
			cw.Flush()
		}
		_ = bw.Flush()
		if next != "" {
			w.Header().Set("X-Yiwang-Next", next)
		}
		if truncated != "" && pg == nil {
			w.Header().Set("X-Yiwang-Truncated", truncated)
		}
		if err != nil {
			w.Header().Set("X-Yiwang-Error", err.Error())
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

// internalError is the error of a query yiwang wrote itself.
type internalError struct{ err error }

func (e internalError) Error() string { return e.err.Error() }
func (e internalError) Unwrap() error { return e.err }

// queryError is the status and the error to send for a query's error:
// 504 for its time limit; for a query of yiwang's own (internalError) a
// message that quotes nothing (the error is logged), else 400 and the
// error itself, an administrator's SQL.
func queryError(r *http.Request, err error) (int, error) {
	var own internalError
	if !errors.As(err, &own) {
		if errors.Is(err, context.DeadlineExceeded) {
			return http.StatusGatewayTimeout, err
		}
		return http.StatusBadRequest, err
	}
	slog.Warn("query failed", "path", r.URL.Path, "err", own.err)
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, errors.New("the query passed its time limit; narrow the filters or ask for a smaller page")
	}
	return http.StatusInternalServerError, errors.New("the query failed; the server's log says why")
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

// keyKind is what one value of a cursor's key must be.
type keyKind int

const (
	keyText keyKind = iota // a string
	keyTime                // an RFC 3339 time, as the rows' times are sent
)

// decodeCursor reads a cursor whose key has one value of each kind, so
// that what reaches a query is what it compares with: a cursor made up by
// hand is refused here, not by DuckDB's casts.
func decodeCursor(s string, kinds ...keyKind) ([]any, error) {
	bad := fmt.Errorf("after must be the next cursor of a previous page, got %q", s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	var key []any
	if err == nil {
		err = json.Unmarshal(b, &key)
	}
	if err != nil || len(key) != len(kinds) {
		return nil, bad
	}
	for i, k := range kinds {
		v, ok := key[i].(string)
		if !ok {
			return nil, bad
		}
		if k == keyTime {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, bad
			}
		}
	}
	return key, nil
}

// wantsArrow reports whether a list's answer is asked for as an Arrow IPC
// stream (?format=arrow or Accept: application/vnd.apache.arrow.stream).
func wantsArrow(r *http.Request) bool {
	return r.URL.Query().Get("format") == "arrow" || strings.Contains(r.Header.Get("Accept"), ArrowStream)
}
