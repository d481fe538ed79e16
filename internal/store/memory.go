package store

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is DuckDB's memory limit when Options.MemoryLimit is
// empty: half of the memory the process may use — the machine's (MemTotal
// in /proc/meminfo) or its cgroup's (memory.max, v2; memory.limit_in_bytes,
// v1), whichever is less — or 0 where neither is known (DuckDB then takes
// 80% of RAM). DuckDB's own default leaves too little beside it: the Go heap
// (the loader's batches, ~400 MB draining a backlog, PERF.md), the embedded
// broker's segments (as large as its data on disk) and the page cache all
// live in the same memory, and at 80% a query that fills DuckDB's share got
// the whole process killed by the kernel instead of failing.
func DefaultMemoryLimit() int64 {
	limit := memTotal()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max" fails: no limit
		if err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	return limit / 2
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// maxTempCeiling bounds DefaultMaxTempBytes.
const maxTempCeiling = 32 << 30

// DefaultMaxTempBytes is the cap on DuckDB's spill files when
// Options.MaxTempBytes is 0: a quarter of the space free on dir's disk (or
// its nearest existing parent's), at most 32 GiB, or 8 GiB where the free
// space is unknown. DuckDB's own default, 90% of the free space, lets one
// query fill the disk that the database and its WAL are on, and a WAL write
// that fails for want of space invalidates the database (ErrInvalidated).
func DefaultMaxTempBytes(dir string) int64 {
	for d := dir; ; d = filepath.Dir(d) {
		if free, ok := freeBytes(d); ok {
			return min(free/4, maxTempCeiling)
		}
		if filepath.Dir(d) == d {
			return 8 << 30
		}
	}
}
