package sqldb

import (
	"context"
	"fmt"
)

// driver is one kind of database: its SQL dialect, its connection and its
// types, behind which the rest of the package is the same for every kind.
// Only PostgreSQL exists (postgres.go); MySQL would be a second
// implementation (backquoted identifiers, ? placeholders,
// NOW(6) - INTERVAL ? MICROSECOND, START TRANSACTION READ ONLY after
// SET TRANSACTION ISOLATION LEVEL REPEATABLE READ) and a row in drivers.
type driver interface {
	// quote returns name, split at dots when qualified is set (a
	// schema-qualified table), as a quoted identifier.
	quote(name string, qualified bool) string
	// pollSQL returns the statement of one poll over the SELECT base: the
	// rows with ts below the database clock minus a delay, after a cursor
	// when after is set, in (ts, id) order, at most a limit. Its arguments
	// are, in order: [cursor ts, cursor id,] delay, limit — the cursor ts as
	// text with a UTC offset, the id as text, the delay in microseconds.
	pollSQL(base, ts, id string, after bool) string
	// describeSQL returns a statement yielding base's columns and no row.
	describeSQL(base string) string
	// read runs stmt with args in one read-only, repeatable-read
	// transaction, connecting first when it has no live connection. After
	// an error that lost the connection it drops it, so the next read
	// starts on a new one. read is not called concurrently.
	read(ctx context.Context, stmt string, args ...any) (result, error)
	// transient reports whether err lost or could not get a connection (a
	// terminated backend, a server restarting, a network failure), so that
	// the same read may be tried again.
	transient(err error) bool
	// close drops the connection.
	close(ctx context.Context) error
}

// result is the outcome of one read: the columns and the rows' values.
//
// A value is nil, bool, int64, float64 (finite), string, json.Number,
// json.RawMessage, []byte, []any of values, or time.Time for the time
// kinds: the instant for kindInstant, a wall clock read as UTC for
// kindNaive. An infinite timestamp is the string "infinity" or "-infinity".
type result struct {
	cols []column
	rows [][]any
}

// column is what the connector knows of a result column.
type column struct {
	name string
	kind kind
	// typ is the database's name of the type, for messages.
	typ string
}

// kind classifies a column's type by what the connector does with it.
type kind int

const (
	kindOther   kind = iota // any other type: converted as documented on result
	kindInteger             // smallint, integer, bigint: int64, a JSON number
	kindText                // text, varchar, char, uuid: a string
	kindInstant             // timestamp with time zone
	kindNaive               // timestamp without time zone: needs a declared time zone
)

// drivers are the known database kinds, by the name in Config.Driver.
var drivers = map[string]func(dsn string, cfg *Config) (driver, error){
	"postgres": newPostgres,
}

func openDriver(dsn string, cfg *Config) (driver, error) {
	open, ok := drivers[cfg.Driver]
	if !ok {
		return nil, fmt.Errorf("driver %q is not supported; known: postgres", cfg.Driver)
	}
	return open(dsn, cfg)
}
