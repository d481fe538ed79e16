//go:build linux && cgo

package store

/*
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

// limitArenas caps glibc's malloc arenas (M_ARENA_MAX) at one per core,
// between 2 and 8, unless MALLOC_ARENA_MAX says otherwise. Only DuckDB's
// C++ objects (plans, strings, hash tables outside its buffer pool) come
// from glibc: Go has its own heap and DuckDB's buffers come from its
// jemalloc.
//
// It runs as the program is loaded, before any thread: glibc fixes its
// arena limit when the ninth arena is wanted, and a limit set later (it
// was set when the first database opened) found 9 arenas already made by
// an earlier DuckDB and by the Go runtime's threads, and the limit fixed
// at glibc's default of eight per core.
__attribute__((constructor)) static void limitArenas(void) {
#ifdef M_ARENA_MAX
	if (getenv("MALLOC_ARENA_MAX") != NULL) {
		return;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2) {
		n = 2;
	}
	if (n > 8) {
		n = 8;
	}
	mallopt(M_ARENA_MAX, (int)n);
#endif
}

static int trim(void) { return malloc_trim(0); }
*/
import "C"

import "time"

// Each thread that meets contention in glibc's malloc gets an arena of its
// own, up to eight per core, and an arena returns little of what it freed:
// with DuckDB's workers, its checkpointer and the loader's connections that
// was 16 arenas and about 40 MiB resident in a demo whose DuckDB used 80.
// One arena per core (limitArenas, above) keeps the C heap near what DuckDB
// holds.

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
