package queries

import "github.com/yiwang-gov/yiwang/internal/diag"

// Problem is one thing wrong in a query file (diag.Problem).
type Problem = diag.Problem

// Problems are all the problems found in a set of files, reported together
// in file and line order, one per line.
type Problems = diag.Problems

// orNil returns ps as an error, or nil if there are none.
func orNil(ps Problems) error {
	if len(ps) == 0 {
		return nil
	}
	return ps.Sorted()
}
