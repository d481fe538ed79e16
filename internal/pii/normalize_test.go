package pii

import (
	"strings"
	"testing"
	"time"

	"github.com/yiwang-gov/yiwang/schemas"
)

// testNow is the clock of the tests: 1 June 2026, 10:00 in Asia/Shanghai.
func testNow(t testing.TB) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	return time.Date(2026, 6, 1, 10, 0, 0, 0, loc)
}

// withCheck appends the GB 11643 check character to 17 digits.
func withCheck(t testing.TB, first17 string) string {
	t.Helper()
	c := schemas.IDCheckChar(first17)
	if c == 0 {
		t.Fatalf("withCheck: %d characters, need 17 digits", len(first17))
	}
	return first17 + string(c)
}

func TestNormalizeID(t *testing.T) {
	now := testNow(t)
	shanghai := now.Location()
	tests := []struct {
		name    string
		in      string
		now     time.Time // zero: now
		want    string    // "" with wantErr
		wantErr string    // substring of the error
	}{
		{name: "standard sample, female", in: "11010519491231002X", want: "11010519491231002X"},
		{name: "born 1880", in: "440524188001010014", want: "440524188001010014"},
		{name: "check X", in: "34052419800101001X", want: "34052419800101001X"},
		{name: "synthetic", in: "220104195603150425", want: "220104195603150425"},
		{name: "31 February", in: "11010519490231002X", wantErr: "birth date is not a real date"},
		{name: "lower-case x", in: "11010519491231002x", want: "11010519491231002X"},
		{name: "full-width digits and X", in: "１１０１０５１９４９１２３１００２Ｘ", want: "11010519491231002X"},
		{name: "full-width lower-case x", in: "１１０１０５１９４９１２３１００２ｘ", want: "11010519491231002X"},
		{name: "mixed widths", in: "1101０５19491231００2x", want: "11010519491231002X"},
		{name: "surrounding spaces", in: " \t\u3000220104195603150425 \n", want: "220104195603150425"},
		// 220104 560315 042 -> 220104 19 560315 042 + check. With the weights
		// 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 the 17 digits
		// 2 2 0 1 0 4 1 9 5 6 0 3 1 5 0 4 2 give
		// 14+18+0+5+0+16+2+9+30+18+0+27+10+25+0+16+4 = 194, 194 mod 11 = 7,
		// "10X98765432"[7] = '5'.
		{name: "legacy 15 digits", in: "220104560315042", want: "220104195603150425"},
		// 110105 491231 002 -> 11010519491231002: the standard's sample,
		// sum 167, 167 mod 11 = 2 -> 'X'.
		{name: "legacy 15 digits, check X", in: "110105491231002", want: "11010519491231002X"},
		{name: "legacy full-width", in: "２２０１０４５６０３１５０４２", want: "220104195603150425"},
		{name: "legacy with X", in: "22010456031504X", wantErr: "legacy number must be all digits"},
		{name: "legacy 30 February", in: "110105490230002", wantErr: "not a real date"},
		{name: "legacy starting with 0", in: "020104560315042", wantErr: "cannot start with 0"},
		{name: "wrong check digit", in: "220104195603150426", wantErr: "check character is wrong"},
		{name: "born tomorrow", in: withCheck(t, "11010520260602002"), wantErr: "in the future"},
		{name: "born today, just after midnight in Shanghai", in: withCheck(t, "11010520260601002"),
			now: time.Date(2026, 6, 1, 0, 30, 0, 0, shanghai), want: withCheck(t, "11010520260601002")},
		{name: "born in 1879", in: withCheck(t, "11010518791231002"), wantErr: "not a real date"},
		{name: "starts with 0", in: withCheck(t, "01010519491231002"), wantErr: "cannot start with 0"},
		{name: "X inside", in: "1101051949123100X2", wantErr: "first 17 characters must be digits"},
		{name: "empty", in: "", wantErr: "has 0"},
		{name: "spaces only", in: "   ", wantErr: "has 0"},
		{name: "too short", in: "1101051949", wantErr: "has 10"},
		{name: "16 digits", in: "1101051949123100", wantErr: "has 16"},
		{name: "too long", in: "11010519491231002X1", wantErr: "more than 18"},
		{name: "space inside", in: "110105 19491231002X", wantErr: "not a digit or X"},
		{name: "letter", in: "11010519491231002Y", wantErr: "not a digit or X"},
		{name: "invalid UTF-8", in: "1101051949123100\xff2", wantErr: "not a digit or X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.now
			if at.IsZero() {
				at = now
			}
			got, err := NormalizeID(tt.in, at)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("NormalizeID succeeded with %q, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				if got != "" {
					t.Errorf("got %q with the error, want \"\"", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeID: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			again, err := NormalizeID(got, at)
			if err != nil || again != got {
				t.Fatalf("normalising the result again gave %q, %v", again, err)
			}
		})
	}
}

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "plain", in: "13800138000", want: "13800138000"},
		{name: "19 prefix", in: "19912345678", want: "19912345678"},
		{name: "spaced", in: " 138 0013 8000 ", want: "13800138000"},
		{name: "dashed", in: "138-0013-8000", want: "13800138000"},
		{name: "full-width dashes and space", in: "138－0013\u30008000", want: "13800138000"},
		{name: "+86", in: "+86 138 0013 8000", want: "13800138000"},
		{name: "+86 glued", in: "+8613800138000", want: "13800138000"},
		{name: "full-width +86", in: "＋８６１３８００１３８０００", want: "13800138000"},
		{name: "0086", in: "0086-138-0013-8000", want: "13800138000"},
		{name: "86", in: "8613800138000", want: "13800138000"},
		{name: "full-width digits", in: "１３８００１３８０００", want: "13800138000"},
		{name: "12 as second digit", in: "12800138000", wantErr: "11 digits starting 13-19"},
		{name: "10 digits", in: "1380013800", wantErr: "11 digits"},
		{name: "12 digits", in: "138001380001", wantErr: "11 digits"},
		{name: "86 then 9 digits", in: "86138001380", wantErr: "11 digits"},
		{name: "+86 then a bad number", in: "+8612800138000", wantErr: "11 digits"},
		{name: "+ inside", in: "138+00138000", wantErr: "leading +"},
		{name: "dots", in: "138.0013.8000", wantErr: "not a digit"},
		{name: "letters", in: "tel13800138000", wantErr: "not a digit"},
		{name: "landline", in: "010-12345678", wantErr: "11 digits"},
		{name: "empty", in: "", wantErr: "11 digits"},
		{name: "very long", in: strings.Repeat("1", 40), wantErr: "more than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeMobile(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("NormalizeMobile succeeded with %q, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeMobile: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// containsPartOf reports whether msg contains any 6-rune window of in, or
// the whole of in if it is shorter. 6 is above the longest digit run in this
// package's messages ("11643").
func containsPartOf(msg, in string) bool {
	r := []rune(strings.TrimSpace(in))
	if len(r) == 0 {
		return false
	}
	if len(r) < 6 {
		return strings.Contains(msg, string(r))
	}
	for i := 0; i+6 <= len(r); i++ {
		if strings.Contains(msg, string(r[i:i+6])) {
			return true
		}
	}
	return false
}

func TestErrorsNeverContainInput(t *testing.T) {
	now := testNow(t)
	k := testKey(t, 1, "1")
	inputs := []string{
		"11010519490231002X", "220104195603150426", "22010419560315042", "2201041956031504251",
		"２２０１０４１９５６０３１５０４２６", "220104 195603150425", "220104195603150425 extra",
		"110105490230002", "1101051949123100X2", withCheck(t, "11010520260602002"),
		"12800138000", "1380013800", "+86 128 0013 8000", "138-0013-800O", "tel:13800138000",
		"13800138000138001380001380013800", "张三13800138000", "11010519491231002X11010519491231002X",
	}
	for _, in := range inputs {
		var errs []error
		if _, err := NormalizeID(in, now); err != nil {
			errs = append(errs, err)
		}
		if _, err := NormalizeMobile(in); err != nil {
			errs = append(errs, err)
		}
		if _, err := k.ProtectID(in, now); err != nil {
			errs = append(errs, err)
		}
		if _, err := k.ProtectMobile(in); err != nil {
			errs = append(errs, err)
		}
		if len(errs) < 2 {
			t.Errorf("input %d: expected both ID and mobile to be refused, got %d errors", len(in), len(errs))
		}
		for _, err := range errs {
			if containsPartOf(err.Error(), in) {
				t.Errorf("error %q contains part of its input", err)
			}
		}
	}
}
