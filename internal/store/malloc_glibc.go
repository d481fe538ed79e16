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
*/
import "C"

import "sync"

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
