package kafkain

import (
	"maps"
	"testing"
)

// FuzzParseCursor: a stored cursor either parses to a position whose
// spelling parses back to the same position, or is refused; never a panic.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0:0", "0:120,1:98,2:0", "1:5,0:7", "0:1,0:2", "-1:3", "0:-3", "0:", ":", "0:9223372036854775807", "a:b", "0:1,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil {
			t.Fatalf("%q parsed, but its spelling %q does not: %v", s, c.String(), err)
		}
		if !maps.Equal(c, again) {
			t.Fatalf("%q → %v → %q → %v", s, c, c.String(), again)
		}
		for p, o := range c {
			if p < 0 || o < 0 {
				t.Fatalf("%q: negative partition or offset %d:%d", s, p, o)
			}
		}
	})
}
