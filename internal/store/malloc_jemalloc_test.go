//go:build linux && cgo

package store

import (
	"os"
	"testing"
)

// DuckDB's jemalloc starts without thread caches, before anything in Go
// runs, unless the environment asks for them.
func TestJemallocThreadCachesOff(t *testing.T) {
	openTest(t) // jemalloc has started by now in any case
	on, err := jemallocThreadCaches()
	if err != nil {
		t.Fatal(err)
	}
	if conf, set := os.LookupEnv("DUCKDB_JE_MALLOC_CONF"); set && conf != "tcache:false" {
		t.Skipf("DUCKDB_JE_MALLOC_CONF=%q was set before the program started", conf)
	}
	if on {
		t.Fatal("jemalloc's thread caches are on")
	}
}

// The allocators' statistics are read, in order, and they move: a table
// DuckDB holds in its buffer pool takes its blocks from jemalloc.
func TestAllocatorMemory(t *testing.T) {
	s := openTest(t)
	before, err := AllocatorMemory()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"glibc_heap", "glibc_in_use", "jemalloc_allocated", "jemalloc_active", "jemalloc_resident", "jemalloc_retained"} {
		if _, ok := before[k]; !ok {
			t.Fatalf("no %s in %v", k, before)
		}
	}
	if before["glibc_in_use"] <= 0 || before["jemalloc_resident"] < before["jemalloc_active"] || before["jemalloc_active"] < before["jemalloc_allocated"] {
		t.Fatalf("statistics out of order: %v", before)
	}
	// Hold a table of 8 MB in DuckDB's buffer pool: jemalloc's allocated
	// bytes grow by at least that.
	if _, err := s.DB().Exec("CREATE TABLE big AS SELECT i, repeat('x', 64) AS s FROM range(100000) t(i)"); err != nil {
		t.Fatal(err)
	}
	after, err := AllocatorMemory()
	if err != nil {
		t.Fatal(err)
	}
	grew := after["jemalloc_allocated"] - before["jemalloc_allocated"]
	t.Logf("jemalloc allocated %d -> %d", before["jemalloc_allocated"], after["jemalloc_allocated"])
	if grew < 4<<20 {
		t.Fatalf("jemalloc's allocated bytes grew by %d with an 8 MB table", grew)
	}
}
