//go:build linux && cgo

package store

/*
#include <malloc.h>

// limitArenas caps glibc's malloc arenas (M_ARENA_MAX). Only DuckDB's C++
// objects (plans, strings, hash tables outside its buffer pool) come from
// glibc: Go has its own heap and DuckDB's buffers come from its jemalloc.
static int limitArenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}

static int trim(void) { return malloc_trim(0); }
*/
import "C"

import (
	"sync"
	"time"
)

var arenasOnce sync.Once

// limitMallocArenas bounds the C heap of DuckDB's threads. glibc gives each
// thread that meets contention an arena of its own, up to eight per core,
// and an arena returns little of what it freed: with DuckDB's workers, its
// checkpointer and the loader's connections that was 16 arenas and about
// 40 MiB resident in a demo whose DuckDB used 80. Two arenas keep the C
// heap near what DuckDB holds. Only new arenas are affected, so it is set
// before the first database opens.
func limitMallocArenas() {
	arenasOnce.Do(func() { C.limitArenas(2) })
}

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
