package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The reason labels of invalid records. They are stable: tests and the
// dead-letter checks match on them.
const (
	// InvalidGridCode is a grid (or area) code of the wrong length, or one
	// whose community is not in the district.
	InvalidGridCode = "bad_grid_code"
	// InvalidUSCIChecksum is a credit code whose GB 32100 check character is
	// wrong (stores, market entities and inspections).
	InvalidUSCIChecksum = "bad_usci_checksum"
	// InvalidEnum is a value outside a field's enumeration.
	InvalidEnum = "bad_enum"
	// InvalidTimestamp is an event-time field that is not an RFC 3339
	// date-time (or, for established_on, not a date), such as
	// "2026-13-45 25:00". updated_at itself stays valid so that cursors work.
	InvalidTimestamp = "bad_timestamp"
	// InvalidMissingField is a required field removed. The id field and
	// updated_at are never removed.
	InvalidMissingField = "missing_field"
)

// InvalidReasons returns every reason label.
func InvalidReasons() []string {
	return []string{InvalidGridCode, InvalidUSCIChecksum, InvalidEnum, InvalidTimestamp, InvalidMissingField}
}

// corrupted returns v encoded with the defect named by reason.
func (s *Simulator) corrupted(k kind, v any, reason string) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decode own record: %w", err)
	}
	info := s.kinds[k]
	rng := s.rng
	switch reason {
	case InvalidGridCode:
		code, _ := obj[info.areaField].(string)
		if len(code) < 9 { // a record above the 乡街 has no code of its own
			obj[info.areaField] = "2201730"
			break
		}
		if len(code) == 9 {
			code += "001"
		}
		switch rng.IntN(3) {
		case 0:
			code = code[:len(code)-1] // one digit short
		case 1:
			code += fmt.Sprint(rng.IntN(10)) // one digit too many
		default:
			// A community segment the district never uses (it numbers
			// communities from 001 and villages from 201).
			code = fmt.Sprintf("%s%03d%s", code[:9], 500+rng.IntN(99), code[12:])
		}
		obj[info.areaField] = code
	case InvalidUSCIChecksum:
		if k == kMarketEntity {
			break // the key itself was made with a wrong check character
		}
		code, _ := obj["usci"].(string)
		if code == "" {
			code = makeUSCI(rng, '2', "220101", false)
		}
		obj["usci"] = wrongCheck(rng, code)
	case InvalidEnum:
		e := oneOf(rng, info.enums)
		obj[e[0]] = e[1]
	case InvalidTimestamp:
		bad := []string{"2026-13-45 25:00", "2026-02-30T08:00:00Z", "2026/03/01 08:00:00", "2026-03-01T25:61:00+08:00", "20260301T080000"}
		if info.dateOnly {
			bad = []string{"2026-13-45", "2026-02-30", "2026/03/01", "20260301"}
		}
		obj[info.timeField] = oneOf(rng, bad)
	case InvalidMissingField:
		delete(obj, oneOf(rng, info.removable))
	}
	return json.Marshal(obj)
}
