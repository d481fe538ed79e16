package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrQueryMemory is the cause of an admin query stopped for memory: the
// process grew by more than Limits.Memory while it ran.
var ErrQueryMemory = errors.New("the query used more memory than an admin query may")

// watchEvery is how often the watchdog samples the process's size.
const watchEvery = 10 * time.Millisecond

// watchMemory cancels ctx with ErrQueryMemory once the process's resident
// size grows more than budget past its size now. DuckDB's memory_limit
// bounds its buffer manager (sorts, joins, aggregates, which then spill),
// but not the strings and lists a query builds as it goes — one
// repeat(repeat('x', 1e6), 1500) holds 1.5 GB, then copies of it — so
// an admin query is also watched from outside. Cancelling interrupts
// DuckDB, which frees the query's memory. stop ends the watch; where the
// process's size cannot be read (no /proc), nothing is watched.
func watchMemory(ctx context.Context, budget int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	base, ok := residentBytes()
	if !ok || budget <= 0 {
		return ctx, func() { cancel(nil) }
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if rss, ok := residentBytes(); ok && rss-base > budget {
					cancel(fmt.Errorf("%w: the process grew by %s while it ran, past the %s an admin query may add; select fewer or smaller values", ErrQueryMemory, sizeText(rss-base), sizeText(budget)))
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// memoryStopped returns the watchdog's cause when it stopped the query.
func memoryStopped(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrQueryMemory) {
		return cause
	}
	return err
}

var pageSize = int64(os.Getpagesize())

// residentBytes is the process's resident set size, from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * pageSize, true
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
