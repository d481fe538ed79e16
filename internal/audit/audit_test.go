package audit

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/internal/store"
)

// TestRecordMaskPrune: a record keeps who asked what with the personal
// numbers of its filters masked; pruning deletes exactly the rows older
// than the cut; the list pages newest first.
func TestRecordMaskPrune(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir()+"/a.duckdb", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	filters := Filters(url.Values{"q": {"13912345678"}, "area": {"220173002"}, "id": {"220102199003071234"}})
	if strings.Contains(filters, "13912345678") || strings.Contains(filters, "220102199003071234") || !strings.Contains(filters, "area=220173002") {
		t.Fatalf("filters %q", filters)
	}
	for i := range 5 {
		e := Entry{At: now.AddDate(0, 0, -i*30), RequestID: string(rune('a' + i)), Who: "beihu", Role: "viewer", Areas: []string{"220173002", "ccna-bh"},
			Endpoint: "GET /api/v1/doorknock/missing", Filters: filters, Rows: i, Outcome: 200}
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Prune(ctx, now.AddDate(0, 0, -70))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the 2 rows older than 70 days", n, err)
	}
	q, args := ListQuery("beihu", nil)
	rows, err := st.DB().Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var at time.Time
		var id, who, role, endpoint, f string
		var areas any
		var count, outcome int
		if err := rows.Scan(&at, &id, &who, &role, &areas, &endpoint, &f, &count, &outcome); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
		if f != filters || len(areas.([]any)) != 2 {
			t.Errorf("row %s: filters %q areas %v", id, f, areas)
		}
	}
	if strings.Join(got, "") != "abc" {
		t.Errorf("rows %v, want a b c (newest first)", got)
	}
}
