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
