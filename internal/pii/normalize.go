package pii

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// digitValue returns the value of an ASCII or full-width (U+FF10-U+FF19)
// decimal digit, or -1.
func digitValue(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= '０' && r <= '９':
		return int(r - '０')
	}
	return -1
}

// isCheckX reports whether r is the check character X in any of the
// spellings sources use: X, x and their full-width forms.
func isCheckX(r rune) bool {
	return r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ'
}

// isSeparator reports whether r may stand between the digit groups of a
// number written for reading: spaces and dashes, ASCII, full-width or
// typographic.
func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00a0', '\u3000', '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\uff0d':
		return true
	}
	return false
}

// NormalizeID returns the canonical 18-character form of a resident ID
// number: surrounding spaces trimmed, full-width digits and X made ASCII, a
// lower-case check character x made X, and a 15-digit legacy number
// (GB 11643-1989: YYMMDD birth date, no check character) converted by
// inserting "19" before the year and appending the check character. The
// result is validated with schemas.ValidResidentID; the birth date must not
// be after the calendar day of now in now's location. The error never
// contains s or any part of it.
func NormalizeID(s string, now time.Time) (string, error) {
	s = strings.TrimSpace(s)
	b := make([]byte, 0, 18)
	n := 0
	for _, r := range s {
		n++
		if n > 18 {
			return "", errors.New("normalize resident ID: has more than 18 characters")
		}
		if v := digitValue(r); v >= 0 {
			b = append(b, byte('0'+v))
			continue
		}
		if isCheckX(r) {
			b = append(b, 'X')
			continue
		}
		return "", errors.New("normalize resident ID: contains a character that is not a digit or X")
	}
	switch len(b) {
	case 18:
	case 15:
		for _, c := range b {
			if c == 'X' {
				return "", errors.New("normalize resident ID: a 15-character legacy number must be all digits")
			}
		}
		long := make([]byte, 0, 18)
		long = append(long, b[:6]...)
		long = append(long, "19"...)
		long = append(long, b[6:]...)
		b = append(long, schemas.IDCheckChar(string(long)))
	default:
		return "", fmt.Errorf("normalize resident ID: must have 18 characters (or 15 for a legacy number), has %d", len(b))
	}
	id := string(b)
	// ValidResidentID parses the birth date as a UTC midnight; compare it
	// with the same midnight of the caller's calendar day, so that a child
	// born today in Asia/Shanghai is not "in the future" before 08:00.
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if err := schemas.ValidResidentID(id, today); err != nil {
		return "", fmt.Errorf("normalize resident ID: %w", err)
	}
	return id, nil
}

// NormalizeMobile returns the canonical 11-digit form of a mainland mobile
// number: full-width digits made ASCII, spaces and dashes removed, and a
// leading +86, 0086 or 86 country code dropped. The result is validated with
// schemas.ValidMobile. The error never contains s or any part of it.
func NormalizeMobile(s string) (string, error) {
	b := make([]byte, 0, 16)
	for _, r := range s {
		switch v := digitValue(r); {
		case v >= 0:
			b = append(b, byte('0'+v))
		case isSeparator(r) || r == '\n' || r == '\r':
		case (r == '+' || r == '＋') && len(b) == 0:
			b = append(b, '+')
		default:
			return "", errors.New("normalize mobile number: contains a character that is not a digit, space, dash or leading +")
		}
		if len(b) > 16 {
			return "", errors.New("normalize mobile number: has more than 16 digits")
		}
	}
	p := string(b)
	switch {
	case strings.HasPrefix(p, "+86"):
		p = p[3:]
	case strings.HasPrefix(p, "0086"):
		p = p[4:]
	case strings.HasPrefix(p, "86") && len(p) == 13:
		p = p[2:]
	}
	if err := schemas.ValidMobile(p); err != nil {
		return "", fmt.Errorf("normalize mobile number: %w", err)
	}
	return p, nil
}
