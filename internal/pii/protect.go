package pii

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Protected is what leaves the connector in place of a raw resident ID or
// mobile number.
type Protected struct {
	// Key is the pseudonym (Key.Pseudonym), the join key across sources.
	Key string
	// Masked is the display form: 220***********0425 or 138****8000.
	Masked string
	// KeyVersion names the key Key was made with.
	KeyVersion string
	// BirthYear is derived from a resident ID; 0 for a mobile number.
	BirthYear int
	// Gender is "M" or "F", derived from a resident ID; "" for a mobile
	// number.
	Gender string
}

// ProtectID normalises raw (NormalizeID) and returns its pseudonym, masked
// form, key version, birth year and gender. It returns NormalizeID's error,
// which never contains raw, or an error if k has no secret.
func (k *Key) ProtectID(raw string, now time.Time) (Protected, error) {
	if !k.usable() {
		return Protected{}, errors.New("protect resident ID: key has no secret")
	}
	id, err := NormalizeID(raw, now)
	if err != nil {
		return Protected{}, err
	}
	return Protected{
		Key:        k.Pseudonym(KindResidentID, id),
		Masked:     MaskID(id),
		KeyVersion: k.version,
		BirthYear:  BirthYear(id),
		Gender:     Gender(id),
	}, nil
}

// ProtectMobile normalises raw (NormalizeMobile) and returns its pseudonym,
// masked form and key version. It returns NormalizeMobile's error, which
// never contains raw, or an error if k has no secret.
func (k *Key) ProtectMobile(raw string) (Protected, error) {
	if !k.usable() {
		return Protected{}, errors.New("protect mobile number: key has no secret")
	}
	p, err := NormalizeMobile(raw)
	if err != nil {
		return Protected{}, err
	}
	return Protected{
		Key:        k.Pseudonym(KindMobile, p),
		Masked:     MaskMobile(p),
		KeyVersion: k.version,
	}, nil
}

// MaskID returns the display form of a normalised resident ID: the first 3
// and last 4 characters kept, the 11 between replaced by '*'
// (220***********0425). A 15-character legacy number keeps the same ends with
// 8 '*'. Any other input is not an ID and is replaced by '*' entirely, one
// per character, so that a wrong call never shows data.
func MaskID(normalized string) string {
	switch utf8.RuneCountInString(normalized) {
	case 18, 15:
		return keepEnds(normalized, 3, 4)
	}
	return strings.Repeat("*", utf8.RuneCountInString(normalized))
}

// MaskMobile returns the display form of a normalised mobile number: the
// first 3 and last 4 digits kept, the 4 between replaced by '*'
// (138****8000). Any other input is not a mobile number and is replaced by
// '*' entirely, one per character.
func MaskMobile(normalized string) string {
	if utf8.RuneCountInString(normalized) == 11 {
		return keepEnds(normalized, 3, 4)
	}
	return strings.Repeat("*", utf8.RuneCountInString(normalized))
}

// keepEnds keeps the first head and last tail runes of s and replaces the
// rest with '*'. s must have more than head+tail runes.
func keepEnds(s string, head, tail int) string {
	r := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(string(r[:head]))
	b.WriteString(strings.Repeat("*", len(r)-head-tail))
	b.WriteString(string(r[len(r)-tail:]))
	return b.String()
}

// isNormalizedShape reports whether id has the layout of a normalised
// resident ID (17 ASCII digits and a digit or X); it does not check the date
// or the check character.
func isNormalizedShape(id string) bool {
	if len(id) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return id[17] == 'X' || id[17] >= '0' && id[17] <= '9'
}

// BirthYear returns the birth year (characters 7-10) of a normalised
// resident ID, or 0 if normalized is not shaped like one.
func BirthYear(normalized string) int {
	if !isNormalizedShape(normalized) {
		return 0
	}
	y := 0
	for i := 6; i < 10; i++ {
		y = y*10 + int(normalized[i]-'0')
	}
	return y
}

// Gender returns "M" if the 17th character of a normalised resident ID (the
// last of the sequence number) is odd and "F" if it is even, or "" if
// normalized is not shaped like an ID.
func Gender(normalized string) string {
	if !isNormalizedShape(normalized) {
		return ""
	}
	if (normalized[16]-'0')%2 == 1 {
		return "M"
	}
	return "F"
}

// HukouArea returns the address code (first 6 digits) of a normalised
// resident ID: the county of household registration when the number was
// issued, not where the person lives now. It returns "" if normalized is not
// shaped like an ID. The county narrows a person down a great deal; publish
// it only where there is a purpose.
func HukouArea(normalized string) string {
	if !isNormalizedShape(normalized) {
		return ""
	}
	return normalized[:6]
}
