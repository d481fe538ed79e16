//go:build linux && cgo

package store

/*
#define _GNU_SOURCE
#include <malloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

// limitArenas caps glibc's malloc arenas (M_ARENA_MAX) at one per core the
// process may run on, between 2 and 8, unless MALLOC_ARENA_MAX or
// GLIBC_TUNABLES's glibc.malloc.arena_max says otherwise. Only DuckDB's C++
// objects (plans, strings, hash tables outside its buffer pool) come from
// glibc: Go has its own heap and DuckDB's buffers come from its jemalloc.
//
// It runs as the program is loaded, before any thread: glibc fixes its
// arena limit at the first arena wanted once eight exist (or once a limit
// is set), and a limit set later (it was set when the first database
// opened) found 9 arenas already made by an earlier DuckDB and by the Go
// runtime's threads, and glibc's default of eight per core in force.
__attribute__((constructor)) static void limitArenas(void) {
#ifdef M_ARENA_MAX
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (tunables != NULL && strstr(tunables, "glibc.malloc.arena_max") != NULL)) {
		return;
	}
	int n = 2;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		n = CPU_COUNT(&set);
	}
	if (n < 2) {
		n = 2;
	}
	if (n > 8) {
		n = 8;
	}
	mallopt(M_ARENA_MAX, n);
#endif
}

static int trim(void) { return malloc_trim(0); }

// glibcStats fills out with mallinfo2's arena, hblkhd, uordblks and
// fordblks, summed over every arena.
static void glibcStats(size_t out[4]) {
	struct mallinfo2 m = mallinfo2();
	out[0] = m.arena;
	out[1] = m.hblkhd;
	out[2] = m.uordblks;
	out[3] = m.fordblks;
}
*/
import "C"

import "time"

// Each thread that meets contention in glibc's malloc gets an arena of its
// own, up to eight per core, and an arena returns little of what it freed:
// with DuckDB's workers, its checkpointer and the loader's connections that
// was 16 arenas and about 40 MiB resident in a demo whose DuckDB used 80.
// One arena per core (limitArenas, above: 2 to 8) keeps the C heap near
// what DuckDB holds.

// trimMalloc returns the C heap's free pages to the system every period
// until stop is closed. glibc gives back only what is free at the top of
// an arena on its own; malloc_trim also releases the free pages inside,
// which DuckDB's churn of plans and strings leaves behind (the demo's
// native memory otherwise crept up by about 0.5 MiB a minute).
func trimMalloc(period time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			C.trim()
		}
	}
}

// glibcBytes adds glibc malloc's statistics (mallinfo2) to m: glibc_heap,
// the arenas' memory from the system; glibc_mmapped, its blocks mapped on
// their own; glibc_in_use and glibc_free, how the arenas' memory divides.
func glibcBytes(m map[string]int64) {
	var out [4]C.size_t
	C.glibcStats(&out[0])
	m["glibc_heap"], m["glibc_mmapped"] = int64(out[0]), int64(out[1])
	m["glibc_in_use"], m["glibc_free"] = int64(out[2]), int64(out[3])
}
