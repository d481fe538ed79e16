package simulate

import (
	"fmt"
	"os"
)

// body is where one stored record's bytes are in its table's body file.
type body struct {
	off int64
	n   int32
}

// bodies keeps a table's record bytes on disk, as a source system's database
// does, so that the simulator's memory is its index (ids, versions and the
// change log: about 150 bytes a record) and not every record it ever served.
// The file is unlinked as soon as it is created: it goes with the process.
// Superseded versions are garbage; when they outweigh the live ones the file
// is rewritten with the live ones only, so it stays under twice their size.
//
// Not safe for concurrent use: the simulator's lock guards it.
type bodies struct {
	dir  string
	f    *os.File
	size int64 // bytes written
	dead int64 // bytes of superseded versions
}

// compactAt is the garbage a body file holds before a rewrite is considered.
const compactAt = 32 << 20

func (b *bodies) open() error {
	f, err := os.CreateTemp(b.dir, "yiwang-simulated-records-*")
	if err != nil {
		return fmt.Errorf("simulated records: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return fmt.Errorf("simulated records: %w", err)
	}
	b.f = f
	return nil
}

// add stores raw and returns where.
func (b *bodies) add(raw []byte) (body, error) {
	if b.f == nil {
		if err := b.open(); err != nil {
			return body{}, err
		}
	}
	at := body{off: b.size, n: int32(len(raw))}
	if _, err := b.f.WriteAt(raw, at.off); err != nil {
		return body{}, fmt.Errorf("simulated records: %w", err)
	}
	b.size += int64(len(raw))
	return at, nil
}

// get reads a stored record back.
func (b *bodies) get(at body) ([]byte, error) {
	buf := make([]byte, at.n)
	if at.n == 0 {
		return buf, nil
	}
	if _, err := b.f.ReadAt(buf, at.off); err != nil {
		return nil, fmt.Errorf("simulated records: read %d bytes at %d: %w", at.n, at.off, err)
	}
	return buf, nil
}

// superseded marks a stored record as garbage.
func (b *bodies) superseded(at body) { b.dead += int64(at.n) }

// needsCompaction reports whether the garbage is worth a rewrite.
func (b *bodies) needsCompaction() bool { return b.dead > compactAt && b.dead > b.size/2 }

// rewrite copies the live records, which live lists, to a new file and
// updates each to its new place.
func (b *bodies) rewrite(live []*body) error {
	nb := bodies{dir: b.dir}
	if err := nb.open(); err != nil {
		return err
	}
	moved := make([]body, len(live))
	for i, at := range live {
		raw, err := b.get(*at)
		if err == nil {
			moved[i], err = nb.add(raw)
		}
		if err != nil {
			nb.close()
			return err
		}
	}
	for i, at := range live {
		*at = moved[i]
	}
	b.close()
	*b = nb
	return nil
}

// close releases the file (its space with it).
func (b *bodies) close() {
	if b.f != nil {
		_ = b.f.Close()
		b.f = nil
	}
}
