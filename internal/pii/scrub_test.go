package pii

import (
	"strings"
	"testing"
)

// scrubCases are the ScrubText table; the fuzz target is seeded with them.
var scrubCases = []struct {
	name string
	in   string
	want string // "" means unchanged
	n    int
}{
	{name: "ID and mobile in Chinese text", in: "住户张三身份证220104195603150425电话13800138000",
		want: "住户张三身份证220***********0425电话138****8000", n: 2},
	{name: "ID with X, standard sample", in: "证件号11010519491231002X。", want: "证件号110***********002X。", n: 1},
	{name: "ID with lower-case x", in: "证件号11010519491231002x,", want: "证件号110***********002X,", n: 1},
	{name: "ID with a wrong check digit", in: "id=220104195603150426;", want: "id=220***********0426;", n: 1},
	{name: "ID with an impossible check character", in: "id=11010519491231002Y", want: "", n: 0},
	{name: "ID at start and mobile at end", in: "220104195603150425 13800138000", want: "220***********0425 138****8000", n: 2},
	{name: "whole string is a mobile", in: "13800138000", want: "138****8000", n: 1},
	{name: "full-width mobile", in: "电话：１３８００１３８０００", want: "电话：138****8000", n: 1},
	{name: "full-width ID", in: "１１０１０５１９４９１２３１００２Ｘ号", want: "110***********002X号", n: 1},
	{name: "spaced mobile", in: "call 138 0013 8000 now", want: "call 138****8000 now", n: 1},
	{name: "dashed mobile", in: "tel:138-0013-8000.", want: "tel:138****8000.", n: 1},
	{name: "spaced dash mobile", in: "138 - 0013 - 8000", want: "138****8000", n: 1},
	{name: "ideographic space", in: "138\u30000013\u30008000", want: "138****8000", n: 1},
	{name: "spaced ID", in: "110105 19491231 002X", want: "110***********002X", n: 1},
	{name: "adjacent to letters", in: "abc13800138000def", want: "abc138****8000def", n: 1},
	{name: "mobile then X", in: "13800138000X", want: "138****8000X", n: 1},
	{name: "ID then digit after X", in: "11010519491231002X5", want: "110***********002X5", n: 1},
	{name: "two mobiles with a space", in: "13800138000 13900139000", want: "138****8000 139****9000", n: 2},
	{name: "two spaced mobiles", in: "138 0013 8000 139 0013 9000", want: "138****8000 139****9000", n: 2},
	{name: "date before mobile", in: "2024-01-15 13800138000", want: "2024-01-15 138****8000", n: 1},
	{name: "+86", in: "+86 138 0013 8000", want: "+86138****8000", n: 1},
	{name: "+86 glued", in: "+8613800138000", want: "+86138****8000", n: 1},
	{name: "0086", in: "0086 13800138000", want: "0086138****8000", n: 1},
	{name: "legacy 15 digits", in: "旧证110105491231002号", want: "旧证110********1002号", n: 1},
	{name: "15-digit grid code reads as a legacy ID", in: "grid 110105001001001", want: "grid 110********1001", n: 1},
	{name: "20-digit order number", in: "订单号12345678901234567890", want: "", n: 0},
	{name: "19-digit order number holding an ID", in: "单号2201041956031504251", want: "", n: 0},
	{name: "mobile glued to digits", in: "138001380001", want: "", n: 0},
	{name: "separated by four spaces", in: "138    0013    8000", want: "", n: 0},
	{name: "landline", in: "010-12345678", want: "", n: 0},
	{name: "12 as second digit", in: "12800138000", want: "", n: 0},
	{name: "no digits", in: "社区网格员巡查，无异常。", want: "", n: 0},
	{name: "area and counts", in: "area 110105001 has 35 cases on 2024-01-15", want: "", n: 0},
	{name: "invalid UTF-8", in: "\xff\xfe13\xc0800", want: "", n: 0},
	{name: "already masked", in: "住户220***********0425电话138****8000 +86138****8000 110********1002", want: "", n: 0},
	{name: "mask tail does not join", in: "138****1388 0013800", want: "", n: 0},
	{name: "mobile tail then digits", in: "13800131388 0013800", want: "138****1388 0013800", n: 1},
	{name: "stars before a mobile", in: "**13800138000**", want: "**138****8000**", n: 1},
	{name: "empty", in: "", want: "", n: 0},
}

func TestScrubText(t *testing.T) {
	c := newWindowChecks(t)
	for _, tt := range scrubCases {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			got, n := ScrubText(tt.in)
			if got != want || n != tt.n {
				t.Fatalf("ScrubText(%q) = %q, %d; want %q, %d", tt.in, got, n, want, tt.n)
			}
			if n == 0 && got != tt.in {
				t.Fatal("a text without readings changed")
			}
			again, n2 := ScrubText(got)
			if again != got || n2 != 0 {
				t.Fatalf("second pass gave %q, %d; want %q, 0", again, n2, got)
			}
			if w := c.readable(got); len(w) > 0 {
				t.Fatalf("output still has readable windows %q", w)
			}
		})
	}
}

func TestScrubTextLongInput(t *testing.T) {
	in := strings.Repeat("电话13800138000，", 1000) + strings.Repeat("9", 100000)
	got, n := ScrubText(in)
	if n != 1000 {
		t.Fatalf("n = %d, want 1000", n)
	}
	if strings.Contains(got, "13800138000") {
		t.Fatal("a mobile number survived")
	}
}
