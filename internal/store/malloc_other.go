//go:build !linux || !cgo

package store

import "time"

func trimMalloc(time.Duration, <-chan struct{}) {}
