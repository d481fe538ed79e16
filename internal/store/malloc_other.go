//go:build !linux || !cgo

package store

import "time"

func limitMallocArenas() {}

func trimMalloc(time.Duration, <-chan struct{}) {}
