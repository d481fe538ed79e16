package connectors

import (
	"fmt"
	"time"

	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// PersonalFields returns the fields of sc that need the pseudonym key
// (x-pii hmac). A source with any must not start without a key.
func PersonalFields(sc *schemas.Schema) []string {
	var out []string
	for _, c := range sc.Columns {
		if c.PII == schemas.PIIHMAC {
			out = append(out, c.Name)
		}
	}
	return out
}

// Check is the runner's check of a record in its schema's source form:
// its personal fields normalised (normalizePersonal), then validated
// against the schema with the areas. It changes obj in place.
func Check(sc *schemas.Schema, obj map[string]any, areas schemas.Areas, now time.Time) error {
	normalizePersonal(sc, obj, now)
	return sc.Validate(obj, areas, now)
}

// normalizePersonal rewrites resident IDs and mobile numbers of obj into
// their normal form (half-width digits, upper-case X, no +86) so that the
// schema's checks and the pseudonym see one spelling per person. A value
// that does not normalise is left for validation to refuse.
func normalizePersonal(sc *schemas.Schema, obj map[string]any, now time.Time) {
	for _, c := range sc.Columns {
		v, ok := obj[c.Name].(string)
		if !ok || c.PII == schemas.PIINone {
			continue
		}
		switch c.Check {
		case schemas.CheckResidentID:
			if n, err := pii.NormalizeID(v, now); err == nil {
				obj[c.Name] = n
			}
		case schemas.CheckMobile:
			if n, err := pii.NormalizeMobile(v); err == nil {
				obj[c.Name] = n
			}
		}
	}
}

// protect turns a validated record of the source form into the topic form:
// every x-pii hmac field becomes <field>_key ("<key version>:<pseudonym>"),
// <field>_masked and the derived fields the schema asks for; mask keeps only
// the masked form; drop removes the field; free text marked scan has its ID
// and phone numbers masked. It returns how many values it protected.
func protect(sc *schemas.Schema, key *pii.Key, obj map[string]any, now time.Time) (int, error) {
	n := 0
	for _, c := range sc.Columns {
		raw, present := obj[c.Name]
		v, isString := raw.(string)
		switch c.PII {
		case schemas.PIINone:
			continue
		case schemas.PIIScan:
			if isString {
				if out, k := pii.ScrubText(v); k > 0 {
					obj[c.Name] = out
					n += k
				}
			}
			continue
		}
		delete(obj, c.Name)
		if !present || !isString {
			continue // absent or null: the protected columns stay null
		}
		n++
		var p pii.Protected
		var err error
		switch c.Check {
		case schemas.CheckResidentID:
			p, err = key.ProtectID(v, now)
		case schemas.CheckMobile:
			p, err = key.ProtectMobile(v)
		default:
			return n, fmt.Errorf("field %s: x-pii %s needs x-check resident_id or mobile", c.Name, c.PII)
		}
		if err != nil {
			return n, fmt.Errorf("protect %s: %w", c.Name, err) // never contains the value
		}
		switch c.PII {
		case schemas.PIIHMAC:
			obj[c.Name+"_"+schemas.RoleKey] = p.KeyVersion + ":" + p.Key
			obj[c.Name+"_"+schemas.RoleMasked] = p.Masked
			for _, d := range c.Derive {
				switch d {
				case schemas.RoleBirthYear:
					obj[c.Name+"_"+schemas.RoleBirthYear] = p.BirthYear
				case schemas.RoleGender:
					obj[c.Name+"_"+schemas.RoleGender] = p.Gender
				}
			}
		case schemas.PIIMask:
			obj[c.Name+"_"+schemas.RoleMasked] = p.Masked
		}
	}
	return n, nil
}
