package pii

import (
	"strings"
	"unicode/utf8"
)

// maxReading is the most digits one reading covers: an 18-character ID.
const maxReading = 18

// maxSeparatorRun is the longest run of separators (spaces, dashes) that
// still joins two digit groups into one number, enough for "138 - 0013".
const maxSeparatorRun = 3

// Masks as ScrubText writes them, recognised again on a second pass.
const (
	mobileStars = "****"        // 138****8000
	idStars     = "***********" // 220***********0425
	legacyStars = "********"    // 110********1002
)

// ScrubText returns s with every number that reads as a resident ID or a
// mainland mobile number replaced by its masked display form, and the number
// of masks applied. It is meant for free text that may carry personal data by
// accident: error messages, remarks, refused payloads.
//
// Text is read as digit groups: maximal runs of ASCII or full-width digits,
// each optionally followed by a check character X or x (ASCII or
// full-width). Groups separated only by 1 to 3 spaces or dashes (ASCII,
// full-width or typographic) may be read together, as in 138 0013 8000. From
// each group, left to right, the longest run of consecutive groups that
// reads as one of these is masked:
//
//   - a resident ID shape, 18 characters
//     [1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dXx],
//     whether or not the check character is right, since a mistyped ID is
//     still personal data: 220***********0425;
//   - a legacy 15-digit ID, [1-9]\d{5}\d{2}(month)(day)\d{3}: 110********1002;
//   - a mobile number 1[3-9]\d{9}: 138****8000, also after a country code
//     86 or 0086 written as part of the number: 86138****8000.
//
// A contiguous run of digits is never split: a reading must start and end at
// the edges of digit groups, so a 20-digit order number, a 19-digit bank
// card or 12 digits holding a mobile number are left as they are. The
// price is that a number glued to other digits ("13800138000123") is not
// masked. Letters, including an X that is not a check character, end a group,
// so "ID13800138000abc" is masked. Note that a 15-digit grid or statistical
// code whose digits 9-12 read as a month and day is masked as a legacy ID;
// keep codes that must stay legible in structured fields rather than text.
//
// Masks are written in ASCII with the separators of a spaced number removed
// (138 0013 8000 becomes 138****8000); everything else is copied byte for
// byte, including invalid UTF-8, so a text without readings is returned
// unchanged. A mask already in the text is recognised and never read
// together with its neighbours, which makes ScrubText idempotent:
// ScrubText(ScrubText(s)) == ScrubText(s), with no further masks.
func ScrubText(s string) (string, int) {
	groups := scanGroups(s)
	var b strings.Builder
	last, n := 0, 0
	var buf [maxReading]byte
	for i := 0; i < len(groups); {
		j, mask, end := longestReading(groups, i, buf[:0])
		if j < 0 {
			i++
			continue
		}
		if n == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:groups[i].start])
		b.WriteString(mask)
		last = end
		n++
		i = j + 1
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// group is a maximal run of digits in the text, or a mask already there.
type group struct {
	start, end int              // byte offsets of the digits
	xEnd       int              // end of a check character X right after the digits; end if none
	digits     [maxReading]byte // the first digits, in ASCII
	nd         int              // how many digits are in digits
	long       bool             // more than maxReading digits: never part of a reading
	mask       bool             // a mask already in the text: never read, never joined
	join       bool             // joined to the next group by a short run of separators
}

// hasX reports whether a check character X follows the group's digits.
func (g *group) hasX() bool { return g.xEnd > g.end }

// scanGroups splits s into digit groups and existing masks, in order.
func scanGroups(s string) []group {
	var gs []group
	for pos := 0; pos < len(s); {
		r, w := utf8.DecodeRuneInString(s[pos:])
		if digitValue(r) < 0 {
			pos += w
			continue
		}
		// pos starts a digit run: the rune before it, if any, is not a digit.
		if n := maskLen(s[pos:]); n > 0 {
			gs = append(gs, group{start: pos, end: pos + n, xEnd: pos + n, mask: true})
			pos += n
			continue
		}
		g := group{start: pos}
		for pos < len(s) {
			r, w := utf8.DecodeRuneInString(s[pos:])
			v := digitValue(r)
			if v < 0 {
				break
			}
			if g.nd < maxReading {
				g.digits[g.nd] = byte('0' + v)
				g.nd++
			} else {
				g.long = true
			}
			pos += w
		}
		g.end, g.xEnd = pos, pos
		if r, w := utf8.DecodeRuneInString(s[pos:]); pos < len(s) && isCheckX(r) {
			g.xEnd = pos + w
			pos += w
		}
		if k := len(gs); k > 0 {
			prev := &gs[k-1]
			prev.join = !prev.mask && !prev.hasX() && separatorRun(s[prev.end:g.start])
		}
		gs = append(gs, g)
	}
	return gs
}

// separatorRun reports whether s is 1 to maxSeparatorRun separators.
func separatorRun(s string) bool {
	n := 0
	for _, r := range s {
		n++
		if n > maxSeparatorRun || !isSeparator(r) {
			return false
		}
	}
	return n > 0
}

// longestReading returns the last group j of the longest run of joined
// groups from i that reads as an ID or a mobile number, its mask and the
// byte offset where the masked text ends; j is -1 if there is none. buf is
// scratch space.
func longestReading(gs []group, i int, buf []byte) (j int, mask string, end int) {
	j = -1
	d := buf
	for k := i; k < len(gs); k++ {
		g := &gs[k]
		if g.mask || g.long || (k > i && !gs[k-1].join) {
			break
		}
		if len(d)+g.nd > maxReading {
			break
		}
		d = append(d, g.digits[:g.nd]...)
		if m, usesX, ok := reading(d, g.hasX()); ok {
			j, mask, end = k, m, g.end
			if usesX {
				end = g.xEnd
			}
		}
	}
	return j, mask, end
}

// reading returns the mask of the ASCII digits d if they read as an ID or a
// mobile number; x says a check character X follows them, usesX whether the
// reading took it.
func reading(d []byte, x bool) (mask string, usesX, ok bool) {
	switch n := len(d); {
	case n == 17 && x && idShape(d):
		return string(d[:3]) + idStars + string(d[14:]) + "X", true, true
	case n == 18 && idShape(d):
		return string(d[:3]) + idStars + string(d[14:]), false, true
	case n == 15 && legacyShape(d):
		return string(d[:3]) + legacyStars + string(d[11:]), false, true
	case n == 15 && string(d[:4]) == "0086" && mobileShape(d[4:]):
		return "0086" + string(d[4:7]) + mobileStars + string(d[11:]), false, true
	case n == 13 && string(d[:2]) == "86" && mobileShape(d[2:]):
		return "86" + string(d[2:5]) + mobileStars + string(d[9:]), false, true
	case n == 11 && mobileShape(d):
		return string(d[:3]) + mobileStars + string(d[7:]), false, true
	}
	return "", false, false
}

// idShape reports whether the first 17 digits of a would-be resident ID have
// its layout; the check character is not verified.
func idShape(d []byte) bool {
	y := string(d[6:8])
	return d[0] != '0' && (y == "18" || y == "19" || y == "20") &&
		validMonth(d[10], d[11]) && validDay(d[12], d[13])
}

// legacyShape reports whether 15 digits have the layout of a GB 11643-1989
// number: address code not starting with 0, YYMMDD, 3-digit sequence.
func legacyShape(d []byte) bool {
	return d[0] != '0' && validMonth(d[8], d[9]) && validDay(d[10], d[11])
}

// mobileShape reports whether 11 digits read as a mainland mobile number.
func mobileShape(d []byte) bool {
	return d[0] == '1' && d[1] >= '3'
}

// validMonth reports whether two digits are 01-12.
func validMonth(a, b byte) bool {
	return a == '0' && b != '0' || a == '1' && b <= '2'
}

// validDay reports whether two digits are 01-31.
func validDay(a, b byte) bool {
	return a == '0' && b != '0' || a == '1' || a == '2' || a == '3' && b <= '1'
}

// maskLen returns the length of the mask ScrubText writes if s starts with
// one (ASCII digits and '*', not followed by a digit), or 0.
func maskLen(s string) int {
	if n := masked(s, 3, len(idStars), 4, true); n > 0 {
		return n
	}
	if n := masked(s, 3, len(legacyStars), 4, false); n > 0 {
		return n
	}
	for _, prefix := range []string{"", "86", "0086"} {
		if strings.HasPrefix(s, prefix) {
			if n := masked(s[len(prefix):], 3, len(mobileStars), 4, false); n > 0 {
				return len(prefix) + n
			}
		}
	}
	return 0
}

// masked returns head+stars+tail if s starts with head ASCII digits, exactly
// stars '*' and tail ASCII digits (the last may be X if x), and no digit
// follows a final digit; otherwise 0.
func masked(s string, head, stars, tail int, x bool) int {
	n := head + stars + tail
	if len(s) < n {
		return 0
	}
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case i >= head && i < head+stars:
			if c != '*' {
				return 0
			}
		case i == n-1 && x && c == 'X':
			return n // an X ends the mask whatever follows
		case c < '0' || c > '9':
			return 0
		}
	}
	if r, _ := utf8.DecodeRuneInString(s[n:]); len(s) > n && digitValue(r) >= 0 {
		return 0
	}
	return n
}
