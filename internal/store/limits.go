// Limits and streaming over the existing query path; the parser-based
// gate for admin SQL replaces AdminQuery's check.

package store

import (
	"context"
	"time"
)

type Limits struct {
	Rows    int
	Bytes   int64
	Timeout time.Duration
}

func (s *Store) AdminQuery(ctx context.Context, q string, lim Limits, cols func([]string) error, row func([]any) error) (string, error) {
	if err := readOnly(q); err != nil {
		return "", err
	}
	return s.StreamArgs(ctx, q, lim, cols, row)
}

func (s *Store) StreamArgs(ctx context.Context, q string, lim Limits, cols func([]string) error, row func([]any) error, args ...any) (string, error) {
	res, err := s.QueryArgs(ctx, q, lim.Rows, args...)
	if err != nil {
		return "", err
	}
	if err := cols(res.Columns); err != nil {
		return "", err
	}
	for _, r := range res.Rows {
		if err := row(r); err != nil {
			return "", err
		}
	}
	if res.Truncated {
		return "rows", nil
	}
	return "", nil
}
