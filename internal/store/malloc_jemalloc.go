//go:build linux && cgo

package store

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

// noThreadCaches turns off the thread caches of DuckDB's jemalloc unless
// DUCKDB_JE_MALLOC_CONF says otherwise. jemalloc reads that variable once,
// when it starts, and DuckDB's static initialisers start it as the program
// loads: a priority lower than theirs (the default, 65535) runs first.
//
// yiwang calls DuckDB from Go, whose runtime runs cgo calls on whichever of
// its threads is free (about 50 in the demo), and jemalloc gives every
// thread that ever allocated a cache of its own, which it empties only as
// that thread allocates again: 30 MiB sat in the demo's after 40 minutes.
// Without them the demo held 35 MiB less from its 5th minute on, the
// loader's upserts were as fast (BenchmarkStoreApply) and a year of daily
// indicators 6% slower (BenchmarkRunYearDaily); both measured on 2 cores.
__attribute__((constructor(101))) static void noThreadCaches(void) {
	setenv("DUCKDB_JE_MALLOC_CONF", "tcache:false", 0);
}

extern int duckdb_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

// threadCaches reports jemalloc's opt.tcache; -1 if it cannot be read.
static int threadCaches(void) {
	bool on = false;
	size_t n = sizeof on;
	if (duckdb_je_mallctl("opt.tcache", &on, &n, NULL, 0) != 0) {
		return -1;
	}
	return on ? 1 : 0;
}

// jemallocStats fills out with jemalloc's stats.allocated, active,
// metadata, resident, mapped and retained (bytes), read after advancing
// its epoch, which is when jemalloc refreshes them; 0 on success.
static int jemallocStats(size_t out[6]) {
	uint64_t epoch = 1;
	size_t n = sizeof epoch;
	if (duckdb_je_mallctl("epoch", &epoch, &n, &epoch, n) != 0) {
		return -1;
	}
	const char *names[6] = {"stats.allocated", "stats.active", "stats.metadata", "stats.resident", "stats.mapped", "stats.retained"};
	for (int i = 0; i < 6; i++) {
		n = sizeof out[i];
		if (duckdb_je_mallctl(names[i], &out[i], &n, NULL, 0) != 0) {
			return -1;
		}
	}
	return 0;
}
*/
import "C"

import "errors"

// jemallocBytes adds jemalloc's statistics to m under "jemalloc_<name>":
// allocated (what DuckDB's Allocator holds: its buffer pool and the
// query-time chunks it does not count), active (pages those take),
// metadata, resident, mapped and retained (address space kept unmapped for
// reuse, no memory).
func jemallocBytes(m map[string]int64) error {
	var out [6]C.size_t
	if C.jemallocStats(&out[0]) != 0 {
		return errors.New("jemalloc's statistics cannot be read")
	}
	for i, name := range []string{"allocated", "active", "metadata", "resident", "mapped", "retained"} {
		m["jemalloc_"+name] = int64(out[i])
	}
	return nil
}

// jemallocThreadCaches reports whether DuckDB's jemalloc gives each thread
// a cache of its own (off unless DUCKDB_JE_MALLOC_CONF turns it on).
func jemallocThreadCaches() (bool, error) {
	switch C.threadCaches() {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, errors.New("jemalloc's opt.tcache cannot be read")
}
