package sqldb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// workOrderColumns are the schema's fields, the columns a reader is granted.
var workOrderColumns = []string{"order_id", "kind", "category", "object_type", "object_id", "grid_code", "status",
	"created_at", "assigned_at", "arrived_at", "completed_at", "urgent", "satisfaction", "reopened", "reporter_phone", "updated_at"}

func dur(d time.Duration) *time.Duration { return &d }
func num(n int) *int                     { return &n }

// workOrders creates the work_order table of testdata/work_order.sql, with
// its three seed rows unless empty.
func workOrders(t *testing.T, db *testDB, empty bool) {
	t.Helper()
	ddl, err := os.ReadFile("testdata/work_order.sql")
	if err != nil {
		t.Fatal(err)
	}
	db.exec(t, string(ddl))
	if empty {
		db.exec(t, "TRUNCATE work_order")
	}
}

// insert adds work orders with the given ids at updated_at.
func insert(t *testing.T, db *testDB, updatedAt string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		db.exec(t, `INSERT INTO work_order (order_id, kind, category, object_type, grid_code, status, created_at, updated_at)
			VALUES ($1, 'repair', 'elevator', 'building', '220173002001004', 'created', $2::timestamptz, $2::timestamptz)`, id, updatedAt)
	}
}

func poll(t *testing.T, s *Source, cursor string) ([]connectors.Record, bool) {
	t.Helper()
	recs, more, err := s.Poll(context.Background(), cursor)
	if err != nil {
		t.Fatal(err)
	}
	return recs, more
}

// drain polls until caught up and returns the ids read (field order_id,
// or the id column) and the last cursor.
func drain(t *testing.T, s *Source, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for range 1000 {
		recs, more := poll(t, s, cursor)
		ids = append(ids, idsOf(t, s, recs)...)
		if len(recs) > 0 {
			cursor = recs[len(recs)-1].Cursor
		}
		if !more {
			return ids, cursor
		}
	}
	t.Fatal("no end")
	return nil, ""
}

func idsOf(t *testing.T, s *Source, recs []connectors.Record) []string {
	t.Helper()
	var ids []string
	for _, r := range recs {
		var obj map[string]any
		if err := json.Unmarshal(r.Raw, &obj); err != nil {
			t.Fatalf("record %s: %v", r.Raw, err)
		}
		ids = append(ids, fmt.Sprint(obj[s.cfg.IDColumn]))
	}
	return ids
}

func TestEqualTimestampsAcrossBatchesAreNotSkipped(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, true)
	var want []string
	for i := range 25 { // 25 rows share one timestamp; batches of 4
		id := fmt.Sprintf("E%02d", i)
		insert(t, db, "2026-11-26 08:00:00+08", id)
		want = append(want, id)
	}
	// Rows a microsecond apart: a cursor that rounded to milliseconds would
	// read some twice or skip them.
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("M%d", i)
		insert(t, db, fmt.Sprintf("2026-11-26 08:00:00.00000%d+08", i), id)
		want = append(want, id)
	}
	s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, BatchSize: 4}, "")
	got, cursor := drain(t, s, "")
	if !slices.Equal(got, want) {
		t.Fatalf("read\n%v\nwant\n%v", got, want)
	}
	if cursor != `{"ts":"2026-11-26T00:00:00.000005Z","id":"M5"}` {
		t.Errorf("last cursor %s", cursor)
	}
	if got, _ := drain(t, s, cursor); len(got) != 0 {
		t.Errorf("caught up, yet read %v", got)
	}
}

func TestRowsUpdatedInPlaceComeBack(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns}, "")
	got, cursor := drain(t, s, "")
	if want := []string{"WO20261126000001", "WO20261126000002", "WO20261126000003"}; !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	db.exec(t, `UPDATE work_order SET status = 'assigned', assigned_at = '2026-11-26 10:05:00+08', updated_at = '2026-11-26 10:05:00+08'
		WHERE order_id = 'WO20261126000002'`)
	recs, more := poll(t, s, cursor)
	if len(recs) != 1 || more {
		t.Fatalf("read %d records (more %v), want the one updated", len(recs), more)
	}
	var obj map[string]any
	_ = json.Unmarshal(recs[0].Raw, &obj)
	if obj["order_id"] != "WO20261126000002" || obj["status"] != "assigned" || obj["updated_at"] != "2026-11-26T02:05:00.000000Z" {
		t.Errorf("new version %s", recs[0].Raw)
	}
}

// TestLongTransaction is RELIABILITY.md S6. Transaction A stamps its row
// with now() (its start) but commits late; B starts after A, commits at
// once, and the connector polls while A is still open — B is visible to
// it, A is not. With the delay window neither is taken yet, and once A has
// committed both arrive, A first. Without the window (delay 0) the
// connector takes B, its cursor passes A's timestamp, and A is lost: the
// failure of query-based sources that the window exists for.
func TestLongTransaction(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		want  []string
	}{
		{"the delay window keeps the late row", 3 * time.Second, []string{"A", "B"}},
		{"without the window the late row is lost", 0, []string{"B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := startPostgres(t).newDB(t)
			workOrders(t, db, true)
			ctx := context.Background()
			s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, Delay: dur(tc.delay)}, "")

			a, err := db.connect(t, "postgres").Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Exec(ctx, `INSERT INTO work_order (order_id, kind, category, object_type, grid_code, status, created_at, updated_at)
				VALUES ('A', 'repair', 'elevator', 'building', '220173002001004', 'created', now(), now())`); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			b := db.connect(t, "postgres")
			if _, err := b.Exec(ctx, `INSERT INTO work_order (order_id, kind, category, object_type, grid_code, status, created_at, updated_at)
				VALUES ('B', 'repair', 'elevator', 'building', '220173002001004', 'created', now(), now())`); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			recs, _ := poll(t, s, "") // B committed, A open
			got := idsOf(t, s, recs)
			cursor := ""
			if len(recs) > 0 {
				cursor = recs[len(recs)-1].Cursor
			}
			time.Sleep(200 * time.Millisecond)
			if err := a.Commit(ctx); err != nil { // A lasted ~0.3s, less than the window
				t.Fatal(err)
			}
			var aTS, bTS time.Time
			_ = db.admin.QueryRow(ctx, `SELECT (SELECT updated_at FROM work_order WHERE order_id = 'A'), (SELECT updated_at FROM work_order WHERE order_id = 'B')`).Scan(&aTS, &bTS)
			if !aTS.Before(bTS) {
				t.Fatalf("A's timestamp %s is not before B's %s", aTS, bTS)
			}
			// Poll until B is read (when the window has passed it), and a
			// little longer, as the runner would.
			deadline := time.Now().Add(tc.delay + 5*time.Second)
			for !slices.Contains(got, "B") && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				var ids []string
				ids, cursor = drain(t, s, cursor)
				got = append(got, ids...)
			}
			time.Sleep(tc.delay / 2)
			ids, _ := drain(t, s, cursor)
			got = append(got, ids...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("read %v, want %v (A committed at %s after B at %s was visible)", got, tc.want, aTS.UTC().Format(tsLayout), bTS.UTC().Format(tsLayout))
			}
		})
	}
}

// failures records the reads that failed under a source.
type failures struct {
	driver
	mu   sync.Mutex
	errs []error
}

func (f *failures) read(ctx context.Context, stmt string, args ...any) (result, error) {
	res, err := f.driver.read(ctx, stmt, args...)
	if err != nil {
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
	}
	return res, err
}

func watch(s *Source) *failures {
	f := &failures{driver: s.drv}
	s.drv = f
	return f
}

// retried checks that exactly one read failed, on a lost connection.
func (f *failures) retried(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) != 1 || !f.driver.transient(f.errs[0]) {
		t.Errorf("failed reads %v, want one lost connection", f.errs)
	} else {
		t.Logf("lost connection, read again: %v", f.errs[0])
	}
}

// TestKilledBackend is RELIABILITY.md S7: the connector's backend is
// terminated by a DBA between polls and in the middle of one; the poll
// makes a new connection and reads again from its cursor, so nothing is
// skipped and the cursor moves only with records delivered.
func TestKilledBackend(t *testing.T) {
	t.Run("between polls", func(t *testing.T) {
		t.Parallel()
		db := startPostgres(t).newDB(t)
		workOrders(t, db, true)
		var want []string
		for i := range 10 {
			want = append(want, fmt.Sprintf("K%02d", i))
		}
		insert(t, db, "2026-11-26 08:00:00+08", want...)
		s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, BatchSize: 3}, "")
		f := watch(s)
		recs, _ := poll(t, s, "")
		got := idsOf(t, s, recs)
		pid := db.backend(t, "")
		db.terminate(t, pid)
		rest, _ := drain(t, s, recs[len(recs)-1].Cursor)
		got = append(got, rest...)
		f.retried(t)
		if !slices.Equal(got, want) {
			t.Fatalf("read %v, want %v", got, want)
		}
		if db.backend(t, "") == pid {
			t.Error("still on the terminated backend")
		}
	})
	t.Run("mid-poll", func(t *testing.T) {
		t.Parallel()
		db := startPostgres(t).newDB(t)
		workOrders(t, db, false)
		db.exec(t, `CREATE TABLE slow (secs float8); INSERT INTO slow VALUES (0.5)`)
		// Every read sleeps half a second first, long enough to be killed in.
		s := db.source(t, Config{
			Query:     `SELECT w.order_id, w.status, w.updated_at FROM work_order w CROSS JOIN LATERAL (SELECT pg_sleep(secs) FROM slow) z`,
			QueryName: "slow_work_order", BatchSize: 2,
		}, "")
		f := watch(s)
		type answer struct {
			recs []connectors.Record
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			recs, _, err := s.Poll(context.Background(), "")
			done <- answer{recs, err}
		}()
		pid := db.backend(t, "active")
		db.terminate(t, pid)
		res := <-done
		if res.err != nil {
			t.Fatalf("poll with its backend killed: %v", res.err)
		}
		f.retried(t)
		if got := idsOf(t, s, res.recs); !slices.Equal(got, []string{"WO20261126000001", "WO20261126000002"}) {
			t.Fatalf("read %v", got)
		}
		if db.backend(t, "") == pid {
			t.Error("still on the terminated backend")
		}
		if p := res.recs[0].Position; p != "sql:slow_work_order#ts=2026-11-26T01:10:00.000001Z&id=WO20261126000001" {
			t.Errorf("position %s", p)
		}
		got, _ := drain(t, s, res.recs[1].Cursor)
		if !slices.Equal(got, []string{"WO20261126000003"}) {
			t.Errorf("then read %v", got)
		}
	})
	t.Run("without retries the poll fails and the runner's cursor stays", func(t *testing.T) {
		t.Parallel()
		db := startPostgres(t).newDB(t)
		workOrders(t, db, false)
		s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, BatchSize: 2, MaxRetries: num(0)}, "")
		recs, _ := poll(t, s, "")
		cursor := recs[len(recs)-1].Cursor
		db.terminate(t, db.backend(t, ""))
		if recs, _, err := s.Poll(context.Background(), cursor); err == nil {
			t.Fatalf("poll on a terminated backend without retries: %d records, no error", len(recs))
		} else if !strings.Contains(err.Error(), "terminating connection due to administrator command") &&
			!strings.Contains(err.Error(), "EOF") {
			t.Logf("error: %v", err) // the wording depends on when the client notices
		}
		got, _ := drain(t, s, cursor) // the runner polls again from the same cursor
		if !slices.Equal(got, []string{"WO20261126000003"}) {
			t.Errorf("after the failed poll read %v", got)
		}
	})
}

func TestReadOnlyRoleIsEnough(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	role := "reader_" + db.name // roles belong to the cluster
	db.exec(t, fmt.Sprintf(`CREATE ROLE %s LOGIN`, role))
	t.Cleanup(func() {
		_, _ = db.admin.Exec(context.Background(), fmt.Sprintf(`REVOKE ALL ON work_order FROM %s`, role))
	})
	// What the README tells a DBA to run.
	db.exec(t, fmt.Sprintf(`ALTER ROLE %s SET default_transaction_read_only = on`, role))
	db.exec(t, fmt.Sprintf(`GRANT USAGE ON SCHEMA public TO %s`, role))
	db.exec(t, fmt.Sprintf(`GRANT SELECT (%s) ON work_order TO %s`, strings.Join(workOrderColumns, ", "), role))

	dsn := db.srv.dsn(role, db.name)
	s := db.source(t, Config{Table: "public.work_order", Columns: workOrderColumns}, dsn)
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := drain(t, s, ""); len(got) != 3 {
		t.Fatalf("reader read %v", got)
	}

	c := db.connect(t, role)
	ctx := context.Background()
	_, err := c.Exec(ctx, `UPDATE work_order SET status = 'cancelled'`)
	if code := sqlState(err); code != "25006" { // read_only_sql_transaction
		t.Errorf("reader's update: %v, want a read-only refusal", err)
	}
	_, err = c.Exec(ctx, `BEGIN READ WRITE; UPDATE work_order SET status = 'cancelled'; COMMIT`)
	if code := sqlState(err); code != "42501" { // insufficient_privilege
		t.Errorf("reader's update in a read-write transaction: %v, want permission denied", err)
	}

	// A column the role was not granted is refused, not read, and the poll
	// fails at once (no retry can fix a privilege).
	extra := db.source(t, Config{Table: "work_order", Columns: append(slices.Clone(workOrderColumns), "reporter_name")}, dsn)
	_, _, err = extra.Poll(ctx, "")
	if sqlState(err) != "42501" || strings.Contains(err.Error(), "attempt") {
		t.Errorf("poll of an ungranted column: %v, want permission denied at the first attempt", err)
	}
	if err := extra.Check(ctx); sqlState(err) != "42501" {
		t.Errorf("check of an ungranted column: %v", err)
	}
}

func sqlState(err error) string {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState()
	}
	return ""
}

func TestNaiveTimestampsNeedATimezone(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	db.exec(t, `CREATE TABLE legacy_order (order_id bigint PRIMARY KEY, status text, created_at timestamp, updated_at timestamp NOT NULL)`)
	// Wall clocks in Beijing time, a microsecond apart, two sharing one.
	db.exec(t, `INSERT INTO legacy_order VALUES
		(3, 'created', '2026-11-26 16:00:00', '2026-11-26 16:00:00.000001'),
		(1, 'created', '2026-11-26 16:00:00', '2026-11-26 16:00:00.000002'),
		(2, 'created', NULL, '2026-11-26 16:00:00.000002'),
		(10, 'completed', '2026-11-26 16:00:00', '2026-11-26 17:00:00')`)
	cfg := Config{Table: "legacy_order", Columns: []string{"order_id", "status", "created_at", "updated_at"}, BatchSize: 1}

	s := db.source(t, cfg, "")
	want := "legacy_order: created_at, updated_at are timestamp without time zone: set timezone"
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("check without timezone: %v, want %q", err, want)
	}
	if _, _, err := s.Poll(context.Background(), ""); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("poll without timezone: %v, want %q", err, want)
	}

	cfg.Timezone = "Asia/Shanghai"
	cfg.Delay = dur(2 * time.Second)
	s = db.source(t, cfg, "")
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	var raws []string
	cursor := ""
	for range 10 {
		recs, more := poll(t, s, cursor)
		for _, r := range recs {
			raws = append(raws, string(r.Raw))
			cursor = r.Cursor
		}
		if !more {
			break
		}
	}
	wantRaws := []string{
		`{"order_id":3,"status":"created","created_at":"2026-11-26T08:00:00.000000Z","updated_at":"2026-11-26T08:00:00.000001Z"}`,
		`{"order_id":1,"status":"created","created_at":"2026-11-26T08:00:00.000000Z","updated_at":"2026-11-26T08:00:00.000002Z"}`,
		`{"order_id":2,"status":"created","created_at":null,"updated_at":"2026-11-26T08:00:00.000002Z"}`,
		`{"order_id":10,"status":"completed","created_at":"2026-11-26T08:00:00.000000Z","updated_at":"2026-11-26T09:00:00.000000Z"}`,
	}
	if !slices.Equal(raws, wantRaws) {
		t.Fatalf("read\n%s\nwant\n%s", strings.Join(raws, "\n"), strings.Join(wantRaws, "\n"))
	}
	if cursor != `{"ts":"2026-11-26T09:00:00.000000Z","id":"10"}` {
		t.Errorf("cursor %s", cursor)
	}
	// A row written just now in Beijing wall-clock time is held back by the
	// window and then read: the bound compares in the declared zone (read
	// as UTC, it would lie eight hours ahead and never come).
	db.exec(t, `INSERT INTO legacy_order VALUES (11, 'created', NULL, now() AT TIME ZONE 'Asia/Shanghai')`)
	if recs, _ := poll(t, s, cursor); len(recs) != 0 {
		t.Fatalf("a row younger than the window was read: %s", recs[0].Raw)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, _ := poll(t, s, cursor)
		if len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the row written in Beijing time never came")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPollTransaction: each read runs in a read-only repeatable-read
// transaction with the statement timeout and the declared time zone.
func TestPollTransaction(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	s := db.source(t, Config{Query: `SELECT order_id, updated_at,
		current_setting('transaction_isolation') AS isolation, current_setting('transaction_read_only') AS read_only,
		current_setting('statement_timeout') AS statement_timeout, current_setting('TimeZone') AS timezone,
		current_setting('application_name') AS application_name FROM work_order`,
		Timeout: 7 * time.Second, Timezone: "Asia/Shanghai", BatchSize: 1}, "")
	recs, _ := poll(t, s, "")
	var got map[string]any
	_ = json.Unmarshal(recs[0].Raw, &got)
	for k, v := range map[string]string{"isolation": "repeatable read", "read_only": "on", "statement_timeout": "7s",
		"timezone": "Asia/Shanghai", "application_name": "yiwang-sqldb"} {
		if got[k] != v {
			t.Errorf("%s = %v, want %s", k, got[k], v)
		}
	}
}

func TestEmptyPollIsASuccess(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, true)
	s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, BatchSize: 2}, "")
	recs, more, err := s.Poll(context.Background(), "")
	if err != nil || len(recs) != 0 || more {
		t.Fatalf("poll of an empty table: %d records, more %v, err %v; want a successful empty poll", len(recs), more, err)
	}
	insert(t, db, "2026-11-26 08:00:00+08", "X1", "X2")
	recs, more = poll(t, s, "")
	if len(recs) != 2 || !more {
		t.Fatalf("a full batch: %d records, more %v", len(recs), more)
	}
	recs, more = poll(t, s, recs[1].Cursor)
	if len(recs) != 0 || more {
		t.Fatalf("after a full batch: %d records, more %v", len(recs), more)
	}
}

func TestCancellationAndTimeout(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	db.exec(t, `CREATE TABLE slow (secs float8); INSERT INTO slow VALUES (30)`)
	query := `SELECT w.order_id, w.updated_at FROM work_order w CROSS JOIN LATERAL (SELECT pg_sleep(secs) FROM slow) z`
	s := db.source(t, Config{Query: query}, "")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := s.Poll(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("poll cancelled after 200ms: %v after %s", err, time.Since(start))
	}

	short := db.source(t, Config{Query: query, Timeout: 300 * time.Millisecond}, "")
	_, _, err = short.Poll(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("poll past its timeout: %v", err)
	}

	db.exec(t, `UPDATE slow SET secs = 0`)
	if got, _ := drain(t, s, ""); len(got) != 3 {
		t.Errorf("after the cancelled poll read %v", got)
	}
}

func TestQueryColumnsAreChecked(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	for _, tc := range []struct {
		name, query, want string
	}{
		{"no timestamp column", `SELECT order_id, created_at FROM work_order`, "timestamp_column updated_at is not among the columns (order_id, created_at)"},
		{"timestamp column of another type", `SELECT order_id, status AS updated_at FROM work_order`, "timestamp_column updated_at is text: it must be a timestamp"},
		{"id of another type", `SELECT 1.5::numeric AS order_id, updated_at FROM work_order`, "id_column order_id is numeric: it must be an integer or text column"},
		{"unnamed column", `SELECT order_id, updated_at, 1 + 1 FROM work_order`, "column 3 has no name: give it one with AS"},
		{"duplicate column", `SELECT order_id, status, status, updated_at FROM work_order`, "column status appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := db.source(t, Config{Query: tc.query}, "")
			if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check: %v\nwant %q", err, tc.want)
			}
			if _, _, err := s.Poll(context.Background(), ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("poll: %v\nwant %q", err, tc.want)
			}
		})
	}
	t.Run("a timestamp no cursor can hold", func(t *testing.T) {
		s := db.source(t, Config{Query: `SELECT order_id, '-infinity'::timestamptz AS updated_at FROM work_order`}, "")
		want := "row order_id=WO20261126000001 of query: updated_at is -infinity, which no cursor can hold"
		if _, _, err := s.Poll(context.Background(), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("poll: %v\nwant %q", err, want)
		}
	})
	t.Run("a query that writes", func(t *testing.T) {
		db.exec(t, `CREATE FUNCTION close_all() RETURNS int LANGUAGE sql AS $$ UPDATE work_order SET status = 'cancelled' RETURNING 1 $$`)
		s := db.source(t, Config{Query: `SELECT order_id, updated_at, close_all() AS n FROM work_order`}, "")
		if _, _, err := s.Poll(context.Background(), ""); sqlState(err) != "25006" {
			t.Errorf("poll of a writing query: %v, want a read-only refusal", err)
		}
		s = db.source(t, Config{Query: `WITH gone AS (DELETE FROM work_order RETURNING order_id, updated_at) SELECT * FROM gone`}, "")
		if _, _, err := s.Poll(context.Background(), ""); err == nil {
			t.Error("poll of a deleting query succeeded")
		}
		var n int
		_ = db.admin.QueryRow(context.Background(), `SELECT count(*) FROM work_order WHERE status <> 'cancelled'`).Scan(&n)
		if n != 3 {
			t.Errorf("%d rows left untouched, want 3", n)
		}
	})
}

// TestRecordEncoding pins the JSON of each column type: NULLs, exact
// numerics, floats, NaN, Chinese text, JSON, arrays, dates, intervals.
func TestRecordEncoding(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	db.exec(t, `CREATE TABLE sample (
		id integer PRIMARY KEY, updated_at timestamptz NOT NULL,
		amount numeric(12,2), big numeric, ratio double precision, odd double precision, small smallint, large bigint,
		flag boolean, note text, code char(4), day date, tags text[], extra jsonb, raw json, uid uuid, span interval, blob bytea)`)
	db.exec(t, `INSERT INTO sample VALUES
		(1, '2026-11-26 08:00:00.5+08', 1234.50, 12345678901234567890.123456789, 0.1, 'NaN', -3, 9007199254740993,
		 true, '电梯困人，3号楼2单元 "紧急" <b>&', 'AB', '2026-11-26', '{网格,"a b"}',
		 '{"楼栋": 3, "big": 12345678901234567890, "list": [1.50, null]}', '{"keep":  "spacing"}',
		 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04.5', '\x00ff'),
		(2, '2026-11-26 08:00:00.5+08', NULL, 'NaN', NULL, '-Infinity', NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	s := db.source(t, Config{Table: "sample", IDColumn: "id",
		Columns: []string{"id", "updated_at", "amount", "big", "ratio", "odd", "small", "large", "flag", "note", "code", "day", "tags", "extra", "raw", "uid", "span", "blob"}}, "")
	recs, _ := poll(t, s, "")
	var got bytes.Buffer
	for _, r := range recs {
		if !json.Valid(r.Raw) {
			t.Errorf("not JSON: %s", r.Raw)
		}
		fmt.Fprintf(&got, "%s\n%s\n%s\n", r.Raw, r.Cursor, r.Position)
	}
	golden(t, "testdata/record_encoding.golden", got.Bytes())
}

// TestWorkOrdersAreValidRecords reads the seed rows and validates them
// against schemas/work_order.schema.json, as the runner will.
func TestWorkOrdersAreValidRecords(t *testing.T) {
	t.Parallel()
	db := startPostgres(t).newDB(t)
	workOrders(t, db, false)
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	schema, _ := reg.Get("work_order")
	s := db.source(t, Config{Table: "work_order", Columns: workOrderColumns, IDColumn: schema.Key[0]}, "")
	recs, _ := poll(t, s, "")
	var got bytes.Buffer
	for _, r := range recs {
		obj, err := schemas.Decode(r.Raw)
		if err == nil {
			err = schema.Validate(obj, nil, time.Now())
		}
		if err != nil {
			t.Errorf("%s: %v", r.Position, err)
		}
		fmt.Fprintf(&got, "%s\n", r.Raw)
	}
	golden(t, "testdata/work_order.golden.ndjson", got.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (rerun with -update after checking):\ngot\n%s\nwant\n%s", filepath.Base(path), got, want)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := startPostgres(t)
	db := srv.newDB(t)
	workOrders(t, db, false)
	// The connection's own view of itself proves the encryption.
	query := `SELECT order_id, updated_at, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl FROM work_order`
	local := fmt.Sprintf("host=localhost port=%d user=postgres dbname=%s", srv.port, db.name)
	for _, tc := range []struct {
		name    string
		tls     TLSConfig
		dsn     string
		newErr  string // New refuses
		pollErr string // the connection fails
		ssl     bool
	}{
		{name: "verify-full with the CA", tls: TLSConfig{Mode: "verify-full", CAFile: srv.caFile}, ssl: true},
		{name: "the default is verify-full", tls: TLSConfig{CAFile: srv.caFile}, ssl: true},
		{name: "verify-full without the CA: the system's roots do not know it", tls: TLSConfig{Mode: "verify-full"}, pollErr: "certificate"},
		{name: "verify-full, host name not in the certificate", tls: TLSConfig{Mode: "verify-full", CAFile: srv.caFile}, dsn: local, pollErr: "certificate"},
		{name: "verify-ca does not check the name", tls: TLSConfig{Mode: "verify-ca", CAFile: srv.caFile}, dsn: local, ssl: true},
		{name: "require encrypts without checking", tls: TLSConfig{Mode: "require"}, ssl: true},
		{name: "disable on loopback", tls: TLSConfig{Mode: "disable"}, ssl: false},
		{name: "sslmode=disable in the connection string is refused", tls: TLSConfig{Mode: "verify-full", CAFile: srv.caFile},
			dsn: srv.dsn("postgres", db.name) + " sslmode=disable", newErr: "sets sslmode=disable but tls.mode is verify-full"},
		{name: "sslmode=prefer in a URL is refused", tls: TLSConfig{Mode: "require"},
			dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=prefer", srv.port, db.name), newErr: "sets sslmode=prefer but tls.mode is require"},
		{name: "the connection string may repeat the mode", tls: TLSConfig{Mode: "require"},
			dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=require", srv.port, db.name), ssl: true},
		{name: "disable to another machine is refused", tls: TLSConfig{Mode: "disable"},
			dsn: "host=192.0.2.10 port=5432 user=reader dbname=property", newErr: "only for a server on this machine"},
		{name: "prefer is refused", tls: TLSConfig{Mode: "prefer"}, newErr: "falls back to plaintext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Query: query, TLS: tc.tls}
			dsn := tc.dsn
			if dsn == "" {
				dsn = srv.dsn("postgres", db.name)
			}
			s, err := db.newSourceTLS(t, cfg, dsn)
			if tc.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.newErr) {
					t.Fatalf("New: %v, want %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			recs, _, err := s.Poll(context.Background(), "")
			if tc.pollErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.pollErr) || strings.Contains(err.Error(), "attempt") {
					t.Fatalf("poll: %v, want %q at the first attempt", err, tc.pollErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var obj struct{ SSL bool }
			_ = json.Unmarshal(recs[0].Raw, &obj)
			if obj.SSL != tc.ssl {
				t.Errorf("ssl %v, want %v", obj.SSL, tc.ssl)
			}
		})
	}
}

// newSourceTLS is newSource keeping cfg.TLS as given (empty: the default).
func (db *testDB) newSourceTLS(t *testing.T, cfg Config, dsn string) (*Source, error) {
	t.Helper()
	env := fmt.Sprintf("YIWANG_TEST_DSN_%d", envSeq.Add(1))
	if err := os.Setenv(env, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Unsetenv(env) })
	cfg.DSNEnv = env
	s, err := New(cfg, "order_id")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, nil
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []FieldError
	}{
		{"table", Config{DSNEnv: "PG", Table: "public.work_order", Columns: []string{"order_id", "updated_at"}}, nil},
		{"query", Config{DSNEnv: "PG", Query: "  with x as (select 1) SELECT * FROM x"}, nil},
		{"nothing", Config{}, []FieldError{
			{Field: "dsn_env", Msg: "is required: the environment variable holding the connection string"},
			{Field: "table", Msg: "is required (or query): the table to read"}}},
		{"a connection string instead of a variable, never echoed", Config{DSNEnv: "postgres://u:secret@db/x", Query: "SELECT 1"}, []FieldError{
			{Field: "dsn_env", Msg: "looks like a connection string: put it in an environment variable and name the variable here"}}},
		{"both query and table", Config{DSNEnv: "PG", Query: "SELECT 1", Table: "t"}, []FieldError{
			{Field: "query", Msg: "give either query or table with columns, not both"}}},
		{"not a select", Config{DSNEnv: "PG", Query: "DELETE FROM t"}, []FieldError{
			{Field: "query", Msg: "must be one SELECT (or WITH ... SELECT)"}}},
		{"columns", Config{DSNEnv: "PG", Table: "a..b", Columns: []string{"x", "x", ""}, IDColumn: "order_id"}, []FieldError{
			{Field: "table", Msg: `must be a table name, optionally schema-qualified (public.work_order), got "a..b"`},
			{Field: "columns[1]", Msg: `"x" is listed twice`},
			{Field: "columns[2]", Msg: "is empty"},
			{Field: "columns", Msg: "must include the timestamp_column updated_at"},
			{Field: "columns", Msg: "must include the id_column order_id"}}},
		{"ranges", Config{DSNEnv: "PG", Query: "SELECT 1", Mode: "incrementing", Delay: dur(-time.Second), BatchSize: -1,
			Timeout: -1, MaxRetries: num(11), Timezone: "Beijing", Driver: "mysql", IDColumn: "updated_at"}, []FieldError{
			{Field: "driver", Msg: "mysql is not supported yet; only postgres"},
			{Field: "id_column", Msg: "must differ from timestamp_column"},
			{Field: "mode", Msg: `must be timestamp+id, got "incrementing"`},
			{Field: "delay", Msg: `must be >= 0, got "-1s"`},
			{Field: "batch_size", Msg: "must be 1-100000, got -1"},
			{Field: "timeout", Msg: `must be > 0, got "-1ns"`},
			{Field: "max_retries", Msg: "must be 0-10, got 11"},
			{Field: "timezone", Msg: `unknown time zone "Beijing": use an IANA name such as Asia/Shanghai`}}},
		{"tls", Config{DSNEnv: "PG", Query: "SELECT 1", TLS: TLSConfig{Mode: "disable", CAFile: "ca.pem", KeyFile: "k"}}, []FieldError{
			{Field: "tls.mode", Msg: "is disable, so ca_file and cert_file have no use"},
			{Field: "tls.cert_file", Msg: "cert_file and key_file go together"}}},
		{"tls prefer", Config{DSNEnv: "PG", Query: "SELECT 1", TLS: TLSConfig{Mode: "allow"}}, []FieldError{
			{Field: "tls.mode", Msg: "allow falls back to plaintext without a word: use verify-full (or disable, for a server on this machine)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Validate(); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestMissingDSNVariableIsRefused(t *testing.T) {
	_, err := New(Config{DSNEnv: "YIWANG_TEST_UNSET_DSN", Query: "SELECT 1"}, "order_id")
	if err == nil || !strings.Contains(err.Error(), "dsn_env YIWANG_TEST_UNSET_DSN is not set") {
		t.Fatalf("got %v", err)
	}
}

func TestWithTLS(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		tls       TLSConfig
		want, err string
	}{
		{"keyword values", `host=db user=r password='it\'s a \\pw'`, TLSConfig{Mode: "verify-full", CAFile: `/etc/ca dir/it's.pem`},
			`host=db user=r password='it\'s a \\pw' sslmode='verify-full' sslrootcert='/etc/ca dir/it\'s.pem'`, ""},
		{"client certificate", "host=db", TLSConfig{Mode: "verify-ca", CertFile: "c.pem", KeyFile: "k.pem"},
			`host=db sslmode='verify-ca' sslcert='c.pem' sslkey='k.pem'`, ""},
		{"url", "postgres://r:pw@db:5432/property?application_name=x", TLSConfig{Mode: "require"},
			"postgres://r:pw@db:5432/property?application_name=x&sslmode=require", ""},
		{"url without a query", "postgresql://db/property", TLSConfig{Mode: "verify-full"},
			"postgresql://db/property?sslmode=verify-full", ""},
		{"same mode repeated", "host=db sslmode = verify-full", TLSConfig{Mode: "verify-full"},
			"host=db sslmode = verify-full sslmode='verify-full'", ""},
		{"quoted weaker mode", "host=db sslmode='disable'", TLSConfig{Mode: "verify-full"}, "", "sets sslmode=disable but tls.mode is verify-full"},
		{"url weaker mode", "postgres://db/x?sslmode=allow", TLSConfig{Mode: "require"}, "", "sets sslmode=allow but tls.mode is require"},
		{"unterminated", "host='db", TLSConfig{Mode: "require"}, "", "unterminated quoted value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withTLS(tc.dsn, tc.tls)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

// TestSampleConfig decodes sample.yaml strictly, as a pipeline file is
// decoded, and validates it.
func TestSampleConfig(t *testing.T) {
	var sources []struct {
		Name   string        `yaml:"name"`
		Schema string        `yaml:"schema"`
		Type   string        `yaml:"type"`
		Every  time.Duration `yaml:"every"`
		SQL    *Config       `yaml:"sql"`
	}
	dec := yaml.NewDecoder(strings.NewReader(SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(&sources); err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].SQL == nil || sources[0].Type != "sqldb" {
		t.Fatalf("sample: %+v", sources)
	}
	c := sources[0].SQL
	if errs := c.Validate(); len(errs) > 0 {
		t.Errorf("sample.yaml: %v", errs)
	}
	if *c.Delay != 30*time.Second || c.TLS.Mode != "verify-full" || len(c.Columns) != 16 {
		t.Errorf("sample decoded as %+v", c)
	}
	reg, err := schemas.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	schema, _ := reg.Get(sources[0].Schema)
	for _, col := range c.Columns {
		if _, ok := schema.Column(col); !ok {
			t.Errorf("sample column %s is not a field of %s", col, schema.Name)
		}
	}
}
