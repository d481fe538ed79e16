package pii

import (
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yiwang-gov/yiwang/schemas"
)

// idSeeds and mobileSeeds seed the fuzz targets.
var (
	idSeeds = []string{
		"11010519491231002X", "440524188001010014", "34052419800101001X", "220104195603150425",
		"11010519490231002X", "11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "220104560315042",
		"110105491231002", " 220104195603150425 ", "", "X", "２２０１０４５６０３１５０４２",
	}
	mobileSeeds = []string{
		"13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "8613800138000", "１３８００１３８０００",
		"＋８６１３８００１３８０００", "12800138000", "+", "86", "",
	}
)

func FuzzNormalizeID(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	now := testNow(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeID(s, now)
		if err != nil {
			if digitCount(s) >= 6 && containsPartOf(err.Error(), s) {
				t.Fatalf("error %q contains part of the input", err)
			}
			return
		}
		if len(got) != 18 {
			t.Fatalf("result has %d bytes", len(got))
		}
		if err := schemas.ValidResidentID(got, now); err != nil {
			t.Fatalf("result is not valid: %v", err)
		}
		if again, err := NormalizeID(got, now); err != nil || again != got {
			t.Fatalf("normalising %q again gave %q, %v", got, again, err)
		}
	})
}

func FuzzNormalizeMobile(f *testing.F) {
	for _, s := range mobileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeMobile(s)
		if err != nil {
			if digitCount(s) >= 6 && containsPartOf(err.Error(), s) {
				t.Fatalf("error %q contains part of the input", err)
			}
			return
		}
		if len(got) != 11 {
			t.Fatalf("result has %d bytes", len(got))
		}
		if err := schemas.ValidMobile(got); err != nil {
			t.Fatalf("result is not valid: %v", err)
		}
		if again, err := NormalizeMobile(got); err != nil || again != got {
			t.Fatalf("normalising %q again gave %q, %v", got, again, err)
		}
	})
}

func FuzzScrubText(f *testing.F) {
	for _, c := range scrubCases {
		f.Add(c.in)
	}
	for _, s := range append(append([]string{}, idSeeds...), mobileSeeds...) {
		f.Add(s)
		f.Add("备注" + s + "。")
	}
	c := newWindowChecks(f)
	f.Fuzz(func(t *testing.T, s string) {
		out, n := ScrubText(s)
		if n == 0 && out != s {
			t.Fatalf("no masks but the text changed: %q -> %q", s, out)
		}
		if n > 0 && n > digitCount(s)/11 {
			t.Fatalf("%d masks for %d digits", n, digitCount(s))
		}
		in, got := utf8.RuneCountInString(s), utf8.RuneCountInString(out)
		// A mask has as many runes as the digits it covers (with a country
		// code kept) and drops at most the separators between them: up to
		// 3 runes in each of at most 17 gaps.
		if got > in || in-got > 51*n {
			t.Fatalf("%d runes in, %d out, %d masks", in, got, n)
		}
		if again, n2 := ScrubText(out); again != out || n2 != 0 {
			t.Fatalf("not idempotent: %q -> %q -> %q (%d)", s, out, again, n2)
		}
		if w := c.readable(out); len(w) > 0 {
			t.Fatalf("ScrubText(%q) = %q still has %q", s, out, w)
		}
	})
}

// digitCount counts ASCII and full-width digits.
func digitCount(s string) int {
	n := 0
	for _, r := range s {
		if digitValue(r) >= 0 {
			n++
		}
	}
	return n
}

// windowChecks are the readings a scrubbed text must not contain, written
// independently of scrub.go.
type windowChecks struct {
	id, legacy, mobile *regexp.Regexp
	now                time.Time // for NormalizeID
}

func newWindowChecks(t testing.TB) windowChecks {
	return windowChecks{
		now:    testNow(t),
		id:     regexp.MustCompile(`^[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]$`),
		legacy: regexp.MustCompile(`^[1-9]\d{5}\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}$`),
		mobile: regexp.MustCompile(`^(0086|86)?1[3-9]\d{9}$`),
	}
}

// readable returns the digit windows of s that still read as a
// resident ID or a mobile number, by the regular expressions above or by
// NormalizeID and NormalizeMobile. A window starts at a digit that does not
// follow a digit, may cross single spaces or dashes between digits, and ends
// before a non-digit (or takes a check character X after 17 digits). Digits
// touching a '*' belong to a mask and are not read.
func (c windowChecks) readable(s string) []string {
	rs := []rune(s)
	for i, r := range rs {
		if v := digitValue(r); v >= 0 {
			rs[i] = rune('0' + v)
		} else if isCheckX(r) {
			rs[i] = 'X'
		}
	}
	isDigit := func(i int) bool { return i >= 0 && i < len(rs) && rs[i] >= '0' && rs[i] <= '9' }
	masked := make([]bool, len(rs))
	for i, r := range rs {
		if r != '*' {
			continue
		}
		for j := i - 1; isDigit(j); j-- {
			masked[j] = true
		}
		for j := i + 1; isDigit(j); j++ {
			masked[j] = true
		}
	}
	var found []string
	for p := range rs {
		if !isDigit(p) || masked[p] || isDigit(p-1) {
			continue
		}
		var d []rune
		for q := p; q < len(rs) && len(d) <= 18; q++ {
			switch {
			case isDigit(q) && !masked[q]:
				d = append(d, rs[q])
			case (rs[q] == ' ' || rs[q] == '-') && isDigit(q+1) && !masked[q+1]:
				continue
			default:
				q = len(rs)
				continue
			}
			if isDigit(q + 1) {
				continue
			}
			w := string(d)
			if len(d) == 17 && q+1 < len(rs) && rs[q+1] == 'X' {
				w += "X"
			}
			_, idErr := NormalizeID(w, c.now)
			_, mobileErr := NormalizeMobile(w)
			if c.id.MatchString(w) || c.legacy.MatchString(w) || c.mobile.MatchString(w) || idErr == nil || mobileErr == nil {
				found = append(found, w)
			}
		}
	}
	return found
}

func TestReadableWindows(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "mobile", in: "a13800138000b", want: 1},
		{name: "spaced mobile", in: "138 0013 8000", want: 1},
		{name: "ID with X", in: "11010519491231002X", want: 1},
		{name: "long run", in: "12345678901234567890", want: 0},
		{name: "masks", in: "138****8000 220***********0425", want: 0},
	}
	c := newWindowChecks(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.readable(tt.in); len(got) != tt.want {
				t.Fatalf("got %q, want %d windows", got, tt.want)
			}
		})
	}
}
