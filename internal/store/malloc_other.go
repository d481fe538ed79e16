//go:build !linux || !cgo

package store

import (
	"errors"
	"time"
)

func trimMalloc(time.Duration, <-chan struct{}) {}

func glibcBytes(map[string]int64) {}

func jemallocBytes(map[string]int64) error {
	return errors.New("jemalloc's statistics are read on Linux with cgo only")
}
