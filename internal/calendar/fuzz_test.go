package calendar

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzLoadCalendar feeds Load arbitrary bytes. It must not panic; every
// problem it reports must name the file and a line; what it accepts must
// come back unchanged through Write and Load, and With must take it or say
// why without panicking.
func FuzzLoadCalendar(f *testing.F) {
	// The seeds are the small files of testdata; the embedded file makes
	// every execution slow and TestWriteRoundTrip covers it.
	seeds, _ := filepath.Glob("testdata/load/*.csv")
	more, _ := filepath.Glob("testdata/*.csv")
	for _, file := range append(seeds, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	base, err := Official()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		days, err := Load(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if days != nil {
				t.Fatal("days returned with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.csv:") {
					t.Fatalf("problem without file and line: %q", line)
				}
			}
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, days); err != nil {
			t.Fatalf("Write refuses what Load accepted: %v", err)
		}
		again, err := Load(&buf, "again.csv")
		if err != nil {
			t.Fatalf("Load refuses what Write wrote: %v\n%s", err, buf.Bytes())
		}
		if !sameDays(days, again) {
			t.Fatalf("round trip changed the days:\n%v\n%v", days, again)
		}
		if c, err := base.With(days...); err == nil {
			for _, d := range days {
				want := d.Kind
				wd := d.Date.Weekday()
				if want == MakeUpWorkday && wd != time.Saturday && wd != time.Sunday {
					want = Workday
				}
				if r := c.CalendarRows(c.at(d.Date.num(), 12*time.Hour), c.at(d.Date.num(), 12*time.Hour)); r[0].Kind != want {
					// The official calendar wins where both list a date.
					if _, official := base.exc[d.Date.num()]; !official {
						t.Fatalf("%s: kind %v after With, want %v", d.Date, r[0].Kind, want)
					}
				}
			}
		}
	})
}

// FuzzWorkingHours checks on arbitrary instants of 2019–2027 and working
// durations of up to 2000 hours that WorkingDuration undoes
// AddWorkingHours exactly, that the result is the first such instant, and
// that WorkingDuration is additive over any split point.
func FuzzWorkingHours(f *testing.F) {
	f.Add(int64(0), int64(4*time.Hour), uint16(1))
	f.Add(int64(sh(2026, 2, 13, 16, 0).Sub(sh(2019, 1, 1, 0, 0))), int64(4*time.Hour), uint16(30000))
	f.Add(int64(sh(2026, 12, 31, 17, 29).Sub(sh(2019, 1, 1, 0, 0))), int64(time.Hour), uint16(65535))
	c, err := Official()
	if err != nil {
		f.Fatal(err)
	}
	from := sh(2019, 1, 1, 0, 0)
	span := uint64(sh(2028, 1, 1, 0, 0).Sub(from))
	f.Fuzz(func(t *testing.T, at, d int64, split uint16) {
		start := from.Add(time.Duration(uint64(at) % span))
		work := time.Duration(uint64(d) % uint64(2000*time.Hour))
		checkInverse(t, c, start, work)
		end := c.AddWorkingHours(start, work)
		mid := start.Add(time.Duration(float64(end.Sub(start)) * float64(split) / 65535))
		if whole, parts := c.WorkingDuration(start, end), c.WorkingDuration(start, mid)+c.WorkingDuration(mid, end); whole != parts {
			t.Fatalf("WorkingDuration(%s, %s) = %v, but %v split at %s", start, end, whole, parts, mid)
		}
	})
}

func BenchmarkAddWorkingHours(b *testing.B) {
	c, err := Official()
	if err != nil {
		b.Fatal(err)
	}
	at := sh(2026, 2, 13, 16, 0) // the Friday before the Spring Festival
	for _, bc := range []struct {
		name string
		d    time.Duration
	}{
		{"4h", 4 * time.Hour},
		{"7days", 7 * 8 * time.Hour},
		{"1year", 2000 * time.Hour},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				c.AddWorkingHours(at, bc.d)
			}
		})
	}
}

func BenchmarkWorkingDuration(b *testing.B) {
	c, err := Official()
	if err != nil {
		b.Fatal(err)
	}
	from, to := sh(2026, 2, 13, 16, 0), sh(2026, 3, 2, 10, 0)
	for b.Loop() {
		c.WorkingDuration(from, to)
	}
}
