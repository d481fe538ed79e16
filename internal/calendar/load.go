package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// header is the first line every calendar file must have.
const header = "date,kind,holiday"

// Day is one exceptional day of the official calendar: a holiday, or a day
// declared a working day by a make-up notice (调休).
type Day struct {
	// Date is the day, on the Asia/Shanghai calendar.
	Date Date
	// Kind is Holiday for a day off (kind "off" in a file) or MakeUpWorkday
	// for a working day (kind "work"). No other kind is allowed.
	Kind DayKind
	// Holiday names the holiday the day belongs to, as the notice does:
	// 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节 or a combination such
	// as 中秋节、国庆节. Make-up working days carry the name of the holiday
	// they make up for.
	Holiday string
	// Source is where the day was read, as "file:line"; Load sets it and
	// error messages quote it. It is empty for days built in code.
	Source string
}

// Load reads a calendar file: the header line "date,kind,holiday", then one
// line per exceptional day with the date as YYYY-MM-DD, the kind "off" (a
// holiday) or "work" (a weekend day that is a working day) and the name of
// the holiday. Fields are separated by commas and never quoted; lines end
// in LF or CRLF; the file is UTF-8 without a byte-order mark. A date may
// appear once.
//
// Load checks the whole file and reports every problem at once, one per
// line of the returned error, each as "name:line: what is wrong; what to
// change". name is the file name to quote in those messages. Reading errors
// are returned wrapped as "read file name: ...".
func Load(r io.Reader, name string) ([]Day, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read file %s: %w", name, err)
	}
	var (
		days  []Day
		probs []error
		seen  = map[Date]int{} // date → line it was first given on
	)
	bad := func(line int, format string, args ...any) {
		probs = append(probs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the newline ending the last line
	}
	if len(lines) == 0 {
		bad(1, "file is empty; start it with the header line %q", header)
		return nil, errors.Join(probs...)
	}
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) {
			bad(n, "line is not valid UTF-8; save the file as UTF-8")
			continue
		}
		if n == 1 {
			switch {
			case strings.HasPrefix(line, "\uFEFF"):
				bad(n, "file starts with a byte-order mark; save it as UTF-8 without BOM")
			case line != header:
				bad(n, "header is %q; the first line must be exactly %q", line, header)
			}
			continue
		}
		if line == "" {
			bad(n, "empty line; remove it")
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 3 {
			bad(n, "%d fields in %q; want 3 (date,kind,holiday) separated by commas, with no comma inside a field", len(fields), line)
			continue
		}
		d := Day{Holiday: fields[2], Source: fmt.Sprintf("%s:%d", name, n)}
		ok := true
		date, err := ParseDate(fields[0])
		if err != nil {
			bad(n, "date %q is not a calendar date; write it as YYYY-MM-DD, e.g. 2026-10-01", fields[0])
			ok = false
		}
		d.Date = date
		switch fields[1] {
		case "off":
			d.Kind = Holiday
		case "work":
			d.Kind = MakeUpWorkday
		default:
			bad(n, "kind %q is unknown; use off (a holiday) or work (a weekend day that is a working day)", fields[1])
			ok = false
		}
		if msg := checkHoliday(d.Holiday); msg != "" {
			bad(n, "%s", msg)
			ok = false
		}
		if err == nil {
			if first, dup := seen[date]; dup {
				bad(n, "date %s is already given on line %d; keep one of the two lines", date, first)
				continue
			}
			seen[date] = n
		}
		if ok {
			days = append(days, d)
		}
	}
	if len(probs) > 0 {
		return nil, errors.Join(probs...)
	}
	return days, nil
}

// checkHoliday returns what is wrong with a holiday name, or "" if nothing
// is. Names may be any UTF-8 text without commas, quotes, control characters
// or surrounding spaces, so that any CSV reader (DuckDB's included) reads
// the file the same way.
func checkHoliday(s string) string {
	switch {
	case s == "":
		return "holiday is empty; name the holiday the day belongs to, e.g. 春节"
	case strings.TrimSpace(s) != s:
		return fmt.Sprintf("holiday %q has leading or trailing spaces; remove them", s)
	case strings.ContainsRune(s, '"'):
		return fmt.Sprintf("holiday %q contains a double quote; remove it", s)
	case strings.ContainsRune(s, ','):
		return fmt.Sprintf("holiday %q contains a comma; use 、 to join names", s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Sprintf("holiday %q contains a control character; remove it", s)
	case !utf8.ValidString(s):
		return fmt.Sprintf("holiday %q is not valid UTF-8", s)
	}
	return ""
}

// Write writes days in the format Load reads, in the order given. It
// returns an error, and writes nothing, if a day could not be read back: an
// invalid date, a kind other than Holiday or MakeUpWorkday, a bad holiday
// name, or a date given twice.
func Write(w io.Writer, days []Day) error {
	var buf bytes.Buffer
	buf.WriteString(header + "\n")
	if err := checkDays(days, true); err != nil {
		return err
	}
	for _, d := range days {
		kind := "off"
		if d.Kind == MakeUpWorkday {
			kind = "work"
		}
		fmt.Fprintf(&buf, "%s,%s,%s\n", d.Date, kind, d.Holiday)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write calendar: %w", err)
	}
	return nil
}

// checkDays reports every day of days that a file could not hold, naming it
// by its Source or, for days built in code, by its index. Dates given twice
// are reported only if dupes is set.
func checkDays(days []Day, dupes bool) error {
	var probs []error
	seen := map[Date]string{}
	for i, d := range days {
		where := d.Source
		if where == "" {
			where = fmt.Sprintf("day %d (%s)", i, d.Date)
		}
		if !d.Date.Valid() {
			probs = append(probs, fmt.Errorf("%s: date %s does not exist; give a real day", where, d.Date))
			continue
		}
		if d.Kind != Holiday && d.Kind != MakeUpWorkday {
			probs = append(probs, fmt.Errorf("%s: kind %s; an exceptional day is a holiday (off) or a makeup_workday (work)", where, d.Kind))
		}
		if msg := checkHoliday(d.Holiday); msg != "" {
			probs = append(probs, fmt.Errorf("%s: %s", where, msg))
		}
		if first, dup := seen[d.Date]; dup {
			if dupes {
				probs = append(probs, fmt.Errorf("%s: date %s is also given by %s; keep one", where, d.Date, first))
			}
			continue
		}
		seen[d.Date] = where
	}
	return errors.Join(probs...)
}
