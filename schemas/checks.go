package schemas

import (
	"fmt"
	"time"
)

// Areas answers whether an area code (street 9, community 12 or grid 15
// digits) is in the reference tables. A nil Areas checks formats only.
type Areas interface {
	Known(code string) bool
}

const usciChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usciWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

func usciValue(c byte) int {
	for i := 0; i < len(usciChars); i++ {
		if usciChars[i] == c {
			return i
		}
	}
	return -1
}

// USCICheckChar returns the GB 32100-2015 check character for the first 17
// characters of a unified social credit code, or 0 if one of them is not in
// the code's 31-character set.
func USCICheckChar(code string) byte {
	if len(code) < 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := usciValue(code[i])
		if v < 0 {
			return 0
		}
		sum += v * usciWeights[i]
	}
	return usciChars[(31-sum%31)%31]
}

// ValidUSCI reports whether code is an 18-character unified social credit
// code whose check character is right. It does not enforce the org-code digit
// of GB 11714 (position 17), which legacy codes may break.
func ValidUSCI(code string) error {
	if len(code) != 18 {
		return fmt.Errorf("must have 18 characters, has %d", len(code))
	}
	for i := 2; i < 8; i++ {
		if code[i] < '0' || code[i] > '9' {
			return fmt.Errorf("characters 3-8 must be the registering area code (digits)")
		}
	}
	c := USCICheckChar(code)
	if c == 0 || usciValue(code[17]) < 0 {
		return fmt.Errorf("uses a character outside %s", usciChars)
	}
	if c != code[17] {
		return fmt.Errorf("check character is %c, should be %c (GB 32100)", code[17], c)
	}
	return nil
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// IDCheckChar returns the GB 11643 (ISO 7064 MOD 11-2) check character of the
// first 17 digits of a resident ID number, or 0 if they are not digits.
func IDCheckChar(id string) byte {
	if len(id) < 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return 0
		}
		sum += int(id[i]-'0') * idWeights[i]
	}
	return "10X98765432"[sum%11]
}

// ValidResidentID reports whether id is a normalised 18-character resident
// ID number (upper-case X) with a real birth date not after today and a right
// check character.
func ValidResidentID(id string, today time.Time) error {
	if len(id) != 18 {
		return fmt.Errorf("must have 18 characters, has %d", len(id))
	}
	if id[0] == '0' {
		return fmt.Errorf("address code cannot start with 0")
	}
	birth, err := time.Parse("20060102", id[6:14])
	if err != nil || birth.Year() < 1880 {
		return fmt.Errorf("birth date is not a real date")
	}
	if birth.After(today) {
		return fmt.Errorf("birth date is in the future")
	}
	c := IDCheckChar(id)
	if c == 0 {
		return fmt.Errorf("first 17 characters must be digits")
	}
	if c != id[17] {
		return fmt.Errorf("check character is wrong (GB 11643)")
	}
	return nil
}

// ValidMobile reports whether p is an 11-digit mainland mobile number.
func ValidMobile(p string) error {
	if len(p) != 11 || p[0] != '1' || p[1] < '3' || p[1] > '9' {
		return fmt.Errorf("must be 11 digits starting 13-19")
	}
	for i := 2; i < 11; i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("must be 11 digits starting 13-19")
		}
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func seg(s string, from, to int) int {
	n := 0
	for i := from; i < to; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// AreaCodeFormat checks the statistical-division layout of a street (9),
// community (12) or grid (15) code: first digit 1-9, township segment 001-599,
// village segment 001-599, grid sequence 001-999.
func AreaCodeFormat(code string) error {
	switch len(code) {
	case 9, 12, 15:
	default:
		return fmt.Errorf("must have 9 (street), 12 (community) or 15 (grid) digits, has %d characters", len(code))
	}
	if !digits(code) || code[0] == '0' {
		return fmt.Errorf("must be digits not starting with 0")
	}
	if t := seg(code, 6, 9); t < 1 || t > 599 {
		return fmt.Errorf("township segment (digits 7-9) must be 001-599, is %03d", t)
	}
	if len(code) >= 12 {
		if v := seg(code, 9, 12); v < 1 || v > 599 {
			return fmt.Errorf("community segment (digits 10-12) must be 001-599, is %03d", v)
		}
	}
	if len(code) == 15 && seg(code, 12, 15) < 1 {
		return fmt.Errorf("grid sequence (digits 13-15) must be 001-999")
	}
	return nil
}
