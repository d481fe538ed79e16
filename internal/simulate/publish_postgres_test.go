package simulate

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yiwang-gov/yiwang/connectors/sqldb"
	"github.com/yiwang-gov/yiwang/internal/pgserver"
)

// startPostgres starts a private server for t; a machine without
// PostgreSQL fails the test rather than skipping it.
func startPostgres(t *testing.T) *pgserver.Server {
	t.Helper()
	if err := pgserver.Available(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pgserver.Start(ctx, pgserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// TestPostgresRoundTrip keeps the work_order table of a real PostgreSQL
// with the publisher and reads it with the sqldb connector configured by
// testdata/workorders.yaml, in two rounds (new orders, then their
// lifecycle steps updating rows in place): every valid work order arrives
// at the ledger's version with the ledger's values, every invalid one is
// refused, and the table holds one row per order.
func TestPostgresRoundTrip(t *testing.T) {
	reg := registry(t)
	srv := startPostgres(t)
	ctx := context.Background()
	url, err := srv.CreateDatabase(ctx, "property")
	if err != nil {
		t.Fatal(err)
	}
	clk := newStepClock(weekdayPeak())
	s := New(Config{Seed: 12, Scale: 0.002, InvalidShare: 0.25, Now: clk.Now})
	s.Step(2500)
	p, err := s.NewPostgresPublisher(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	sources := loadSources(t, "workorders.yaml", nil)
	if len(sources) != 1 || sources[0].Type != "sqldb" || sources[0].SQL == nil || sources[0].Schema != "work_order" {
		t.Fatalf("workorders.yaml: want one sqldb source of work_order, got %+v", sources)
	}
	sc, _ := reg.Get("work_order")
	t.Setenv(sources[0].SQL.DSNEnv, url)
	src, err := sqldb.New(*sources[0].SQL, sc.Key[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	if err := src.Check(ctx); err != nil {
		t.Fatalf("the connector refuses the table: %v", err)
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }()

	prev := Ledger{}
	cursor := ""
	for round := 1; round <= 2; round++ {
		n, err := p.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("round %d: nothing published", round)
		}
		cur := s.Ledger()
		rt := newRoundTrip(t, sc)
		for i := 0; ; i++ {
			if i > 1000 {
				t.Fatal("the table did not drain in 1000 polls")
			}
			recs, more, err := src.Poll(ctx, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				_ = rt.add(rec.Raw, s.District(), clk.Now())
				cursor = rec.Cursor
			}
			if !more && len(recs) == 0 {
				break
			}
		}
		rt.check(prev, cur)
		if round == 1 {
			checkLabels(t, "work_order", rt.labels)
		}
		var rows int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM work_order").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if c := s.Counts()["work_order"]; rows != c.Valid+c.Invalid {
			t.Errorf("round %d: %d rows, want one per work order: %d", round, rows, c.Valid+c.Invalid)
		}
		if n2, err := p.Publish(ctx); err != nil || n2 != 0 {
			t.Fatalf("round %d: an immediate second Publish wrote %d rows (%v), want none", round, n2, err)
		}
		t.Logf("round %d: %d rows written, %d accepted, %d refused", round, n, len(rt.accepted), len(rt.refused))
		prev = cur
		clk.Advance(3 * time.Minute)
		s.Step(1500)
	}

	// A new publisher, as after a restart, upserts every row again and
	// leaves the table as it was: the upsert is idempotent.
	if _, err := p.Publish(ctx); err != nil { // the last round's changes
		t.Fatal(err)
	}
	var before string
	if err := admin.QueryRow(ctx, "SELECT md5(string_agg(w::text, '|' ORDER BY order_no)) FROM work_order w").Scan(&before); err != nil {
		t.Fatal(err)
	}
	p2, err := s.NewPostgresPublisher(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p2.Close() }()
	n, err := p2.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Counts()["work_order"]; n != c.Valid+c.Invalid {
		t.Errorf("a new publisher wrote %d rows, want every work order: %d", n, c.Valid+c.Invalid)
	}
	var after string
	if err := admin.QueryRow(ctx, "SELECT md5(string_agg(w::text, '|' ORDER BY order_no)) FROM work_order w").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Error("re-publishing the same versions changed the table")
	}
}

// TestPostgresPublisherReconnects: a publish that fails because the
// server went away is retried by the next Publish on a new connection,
// and nothing is skipped.
func TestPostgresPublisherReconnects(t *testing.T) {
	srv := startPostgres(t)
	ctx := context.Background()
	s := New(Config{Seed: 2, Scale: 0.002, Now: fixed(weekdayPeak())})
	s.Step(300)
	p, err := s.NewPostgresPublisher(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	admin, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }()
	// Kill the publisher's connection as a restarting server would.
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = 'postgres'`); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Publish(ctx); err == nil {
		t.Fatalf("Publish on a terminated connection wrote %d rows without an error", n)
	}
	n, err := p.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Counts()["work_order"]
	var rows int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM work_order").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if n != c.Valid+c.Invalid || rows != n {
		t.Errorf("after reconnecting: %d published, %d rows, want %d", n, rows, c.Valid+c.Invalid)
	}
}
