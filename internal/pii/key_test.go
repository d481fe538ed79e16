package pii

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testKey returns a key whose 32 secret bytes are seed, seed+1, ...
func testKey(t testing.TB, seed byte, version string) *Key {
	t.Helper()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = seed + byte(i)
	}
	k, err := NewKey(secret, version)
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return k
}

func TestNewKey(t *testing.T) {
	tests := []struct {
		name    string
		secret  int
		version string
		wantErr string
	}{
		{name: "32 bytes", secret: 32, version: "1"},
		{name: "64 bytes, dotted version", secret: 64, version: "2026-01.rotation_b"},
		{name: "32-character version", secret: 32, version: strings.Repeat("v", 32)},
		{name: "31 bytes", secret: 31, version: "1", wantErr: "secret has 31 bytes, needs at least 32"},
		{name: "no secret", secret: 0, version: "1", wantErr: "secret has 0 bytes"},
		{name: "empty version", secret: 32, version: "", wantErr: "version must have 1 to 32 characters"},
		{name: "33-character version", secret: 32, version: strings.Repeat("v", 33), wantErr: "has 33"},
		{name: "space in version", secret: 32, version: "v 2", wantErr: "may only contain"},
		{name: "slash in version", secret: 32, version: "v/2", wantErr: "may only contain"},
		{name: "non-ASCII version", secret: 32, version: "版本1", wantErr: "may only contain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKey(bytes.Repeat([]byte{7}, tt.secret), tt.version)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if k != nil {
					t.Fatal("got a key with the error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewKey: %v", err)
			}
			if k.Version() != tt.version {
				t.Fatalf("Version() = %q, want %q", k.Version(), tt.version)
			}
		})
	}
}

func TestNewKeyCopiesSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	k, err := NewKey(secret, "1")
	if err != nil {
		t.Fatal(err)
	}
	before := k.Pseudonym(KindMobile, "13800138000")
	secret[0] = 2
	if after := k.Pseudonym(KindMobile, "13800138000"); after != before {
		t.Fatal("changing the caller's slice changed the key")
	}
}

func TestKeyFromEnv(t *testing.T) {
	secret := bytes.Repeat([]byte{0xA5}, 32)
	short := bytes.Repeat([]byte{0xA5}, 16)
	tests := []struct {
		name        string
		env         map[string]string
		wantVersion string
		wantErr     []string // substrings of the error
	}{
		{name: "hex", env: map[string]string{EnvKey: hex.EncodeToString(secret)}, wantVersion: "1"},
		{name: "upper-case hex with spaces", env: map[string]string{EnvKey: " " + strings.ToUpper(hex.EncodeToString(secret)) + "\n"}, wantVersion: "1"},
		{name: "base64", env: map[string]string{EnvKey: base64.StdEncoding.EncodeToString(secret), EnvKeyVersion: "2"}, wantVersion: "2"},
		{name: "unpadded url base64", env: map[string]string{EnvKey: base64.RawURLEncoding.EncodeToString(secret), EnvKeyVersion: "2026a"}, wantVersion: "2026a"},
		{name: "empty version is the default", env: map[string]string{EnvKey: hex.EncodeToString(secret), EnvKeyVersion: ""}, wantVersion: "1"},
		{name: "unset", env: map[string]string{},
			wantErr: []string{"YIWANG_PII_KEY is not set", "openssl rand -hex 32", "YIWANG_PII_KEY_VERSION"}},
		{name: "empty", env: map[string]string{EnvKey: "  "}, wantErr: []string{"YIWANG_PII_KEY is not set"}},
		{name: "short hex", env: map[string]string{EnvKey: hex.EncodeToString(short)},
			wantErr: []string{"decodes as hex to 16 bytes, needs at least 32"}},
		{name: "short base64", env: map[string]string{EnvKey: base64.StdEncoding.EncodeToString(short)},
			wantErr: []string{"decodes as base64 to 16 bytes, needs at least 32"}},
		{name: "neither", env: map[string]string{EnvKey: "not a key at all!"},
			wantErr: []string{"YIWANG_PII_KEY: is neither hex nor base64", "openssl rand"}},
		{name: "bad version", env: map[string]string{EnvKey: hex.EncodeToString(secret), EnvKeyVersion: "v 1"},
			wantErr: []string{"YIWANG_PII_KEY_VERSION: version may only contain"}},
		{name: "secret in the version variable", env: map[string]string{EnvKey: hex.EncodeToString(secret), EnvKeyVersion: hex.EncodeToString(secret)},
			wantErr: []string{"YIWANG_PII_KEY_VERSION: version must have 1 to 32 characters, has 64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := KeyFromEnv(func(name string) (string, bool) {
				v, ok := tt.env[name]
				return v, ok
			})
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("KeyFromEnv succeeded, want an error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for _, v := range tt.env {
					if v = strings.TrimSpace(v); v != "" && strings.Contains(err.Error(), v) {
						t.Errorf("error %q contains the value of a variable", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("KeyFromEnv: %v", err)
			}
			if k.Version() != tt.wantVersion {
				t.Errorf("Version() = %q, want %q", k.Version(), tt.wantVersion)
			}
			want := mustKey(t, secret, "x").Pseudonym(KindMobile, "13800138000")
			if got := k.Pseudonym(KindMobile, "13800138000"); got != want {
				t.Error("the decoded secret is not the one encoded")
			}
		})
	}
}

func TestKeyFromEnvNilLookup(t *testing.T) {
	if _, err := KeyFromEnv(nil); err == nil || !strings.Contains(err.Error(), "os.LookupEnv") {
		t.Fatalf("error %v, want one naming os.LookupEnv", err)
	}
}

func mustKey(t testing.TB, secret []byte, version string) *Key {
	t.Helper()
	k, err := NewKey(secret, version)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyNeverShowsSecret(t *testing.T) {
	secret := []byte("SECRET-do-not-print-0123456789-ABCDEF")
	k := mustKey(t, secret, "v7")
	forms := []string{
		string(secret), "SECRET", hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), fmt.Sprint(secret)[:20], fmt.Sprintf("%d", secret)[:20],
	}
	var out []string
	for _, v := range []any{k, *k, struct{ K Key }{*k}, struct{ K *Key }{k}, struct{ k Key }{*k}, struct{ k *Key }{k}, []any{k},
		struct{ outer struct{ k Key } }{struct{ k Key }{*k}}, map[string]Key{"k": *k}, &struct{ k Key }{*k}} {
		out = append(out, fmt.Sprintf("%v %+v %#v %s %q %x %X %d", v, v, v, v, v, v, v, v))
		out = append(out, fmt.Sprint(v), fmt.Sprintln(v))
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		out = append(out, string(b))
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "key", k, "value", *k)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", slog.Any("key", k))
	out = append(out, logs.String(), k.String(), k.GoString())
	if _, err := NewKey(secret[:31], "1"); err != nil {
		out = append(out, err.Error())
	}
	for _, o := range out {
		for _, f := range forms {
			if strings.Contains(o, f) {
				t.Errorf("output %q shows the secret (as %q)", o, f)
			}
		}
	}
	if got, want := fmt.Sprintf("%v", k), "pii.Key(version=v7)"; got != want {
		t.Errorf("%%v = %q, want %q", got, want)
	}
	if b, _ := json.Marshal(k); string(b) != `{"version":"v7"}` {
		t.Errorf("json = %s, want {\"version\":\"v7\"}", b)
	}
	var nilKey *Key
	if got := fmt.Sprintf("%v", nilKey); got != "<nil>" {
		t.Errorf("nil key prints %q, want <nil>", got)
	}
}

func TestPseudonym(t *testing.T) {
	// seq is the key 00 01 02 ... 1f. The vectors were computed with
	// Python's hmac.new(key, msg, hashlib.sha256).hexdigest(), so that any
	// other implementation can be checked against them.
	seq := testKey(t, 0, "1")
	tests := []struct {
		name       string
		a, b       string // two pseudonyms
		wantEqual  bool
		wantVector string // a's expected value, if set
	}{
		{name: "ID vector", a: seq.Pseudonym(KindResidentID, "11010519491231002X"),
			wantVector: "81b5dda1236499027abbbd5700f392ad4c99cb98ba602a384a80b6ee5f1bd06d"},
		{name: "mobile vector", a: seq.Pseudonym(KindMobile, "13800138000"),
			wantVector: "e4301dc4980b81cf506ae9fc61c3005486ea9c5e37e470a666a362d4ecda1395"},
		{name: "ID kind over a mobile's digits", a: seq.Pseudonym(KindResidentID, "13800138000"),
			wantVector: "1be7708c62ef15d9eed02862be3c8db73756fc0d8c01ffff2f5406febc66973c"},
		{name: "ID vs mobile, same digits",
			a: seq.Pseudonym(KindResidentID, "13800138000"), b: seq.Pseudonym(KindMobile, "13800138000")},
		{name: "same ID, full-width vs ASCII", wantEqual: true,
			a: protectID(t, seq, "１１０１０５１９４９１２３１００２Ｘ"), b: protectID(t, seq, "11010519491231002X")},
		{name: "same ID, lower-case x", wantEqual: true,
			a: protectID(t, seq, "11010519491231002x"), b: protectID(t, seq, "11010519491231002X")},
		{name: "same ID, legacy 15 digits", wantEqual: true,
			a: protectID(t, seq, "110105491231002"), b: protectID(t, seq, "11010519491231002X")},
		{name: "same mobile, +86 and spaces", wantEqual: true,
			a: protectMobile(t, seq, "+86 138 0013 8000"), b: protectMobile(t, seq, "13800138000")},
		{name: "different key",
			a: seq.Pseudonym(KindResidentID, "11010519491231002X"), b: testKey(t, 1, "1").Pseudonym(KindResidentID, "11010519491231002X")},
		{name: "different version and secret",
			a: seq.Pseudonym(KindResidentID, "11010519491231002X"), b: testKey(t, 9, "2").Pseudonym(KindResidentID, "11010519491231002X")},
		// The version names the secret; it is not mixed into the HMAC.
		{name: "same secret relabelled", wantEqual: true,
			a: seq.Pseudonym(KindResidentID, "11010519491231002X"), b: testKey(t, 0, "2").Pseudonym(KindResidentID, "11010519491231002X")},
		{name: "different people",
			a: seq.Pseudonym(KindResidentID, "11010519491231002X"), b: seq.Pseudonym(KindResidentID, "220104195603150425")},
		{name: "zero key gives no pseudonym", wantEqual: true, a: (&Key{}).Pseudonym(KindMobile, "13800138000"), b: ""},
		{name: "nil key gives no pseudonym", wantEqual: true, a: (*Key)(nil).Pseudonym(KindMobile, "13800138000"), b: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantVector != "" {
				if tt.a != tt.wantVector {
					t.Fatalf("got %s, want %s", tt.a, tt.wantVector)
				}
				return
			}
			if (tt.a == tt.b) != tt.wantEqual {
				t.Fatalf("a = %s, b = %s, want equal: %v", tt.a, tt.b, tt.wantEqual)
			}
			if tt.a != "" && (len(tt.a) != 64 || strings.ToLower(tt.a) != tt.a) {
				t.Fatalf("pseudonym %q is not 64 lower-case hex digits", tt.a)
			}
		})
	}
}

func protectID(t testing.TB, k *Key, raw string) string {
	t.Helper()
	p, err := k.ProtectID(raw, testNow(t))
	if err != nil {
		t.Fatalf("ProtectID: %v", err)
	}
	return p.Key
}

func protectMobile(t testing.TB, k *Key, raw string) string {
	t.Helper()
	p, err := k.ProtectMobile(raw)
	if err != nil {
		t.Fatalf("ProtectMobile: %v", err)
	}
	return p.Key
}

func TestProtect(t *testing.T) {
	k := testKey(t, 0, "3")
	now := testNow(t)
	tests := []struct {
		name    string
		protect func() (Protected, error)
		want    Protected
		wantErr string
	}{
		{name: "ID, female", protect: func() (Protected, error) { return k.ProtectID("11010519491231002x", now) },
			want: Protected{Key: k.Pseudonym(KindResidentID, "11010519491231002X"), Masked: "110***********002X", KeyVersion: "3", BirthYear: 1949, Gender: "F"}},
		{name: "ID, male, legacy", protect: func() (Protected, error) { return k.ProtectID("440524800101001", now) },
			want: Protected{Key: k.Pseudonym(KindResidentID, withCheck(t, "44052419800101001")), Masked: "440***********001" + string(withCheck(t, "44052419800101001")[17]), KeyVersion: "3", BirthYear: 1980, Gender: "M"}},
		{name: "mobile", protect: func() (Protected, error) { return k.ProtectMobile("138-0013-8000") },
			want: Protected{Key: k.Pseudonym(KindMobile, "13800138000"), Masked: "138****8000", KeyVersion: "3"}},
		{name: "bad ID", protect: func() (Protected, error) { return k.ProtectID("11010519490231002X", now) },
			wantErr: "normalize resident ID: birth date is not a real date"},
		{name: "bad mobile", protect: func() (Protected, error) { return k.ProtectMobile("12800138000") },
			wantErr: "normalize mobile number"},
		{name: "nil key", protect: func() (Protected, error) { var nk *Key; return nk.ProtectID("11010519491231002X", now) },
			wantErr: "key has no secret"},
		{name: "zero key", protect: func() (Protected, error) { return (&Key{}).ProtectMobile("13800138000") },
			wantErr: "key has no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.protect()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if got != (Protected{}) {
					t.Fatalf("got %+v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEphemeralKey(t *testing.T) {
	a, b := EphemeralKey(), EphemeralKey()
	if a.Version() != "ephemeral" {
		t.Errorf("Version() = %q, want ephemeral", a.Version())
	}
	if a.Pseudonym(KindMobile, "13800138000") == b.Pseudonym(KindMobile, "13800138000") {
		t.Error("two ephemeral keys give the same pseudonym")
	}
	if _, err := a.ProtectMobile("13800138000"); err != nil {
		t.Errorf("ProtectMobile: %v", err)
	}
}

func TestMaskAndDerived(t *testing.T) {
	tests := []struct {
		name     string
		fn       func(string) string
		in, want string
	}{
		{name: "mask ID", fn: MaskID, in: "220104195603150425", want: "220***********0425"},
		{name: "mask ID with X", fn: MaskID, in: "11010519491231002X", want: "110***********002X"},
		{name: "mask legacy ID", fn: MaskID, in: "110105491231002", want: "110********1002"},
		{name: "mask ID, wrong length", fn: MaskID, in: "1101051949", want: "**********"},
		{name: "mask ID, full-width", fn: MaskID, in: "２２０１０４１９５６０３１５０４２５", want: "２２０***********０４２５"},
		{name: "mask ID, empty", fn: MaskID, in: "", want: ""},
		{name: "mask mobile", fn: MaskMobile, in: "13800138000", want: "138****8000"},
		{name: "mask mobile, wrong length", fn: MaskMobile, in: "+8613800138000", want: "**************"},
		{name: "hukou area", fn: HukouArea, in: "220104195603150425", want: "220104"},
		{name: "hukou area, not an ID", fn: HukouArea, in: "22010419560315042", want: ""},
		{name: "gender even is F", fn: Gender, in: "11010519491231002X", want: "F"},
		{name: "gender odd is M", fn: Gender, in: "440524188001010014", want: "M"},
		{name: "gender, not normalised", fn: Gender, in: "11010519491231002x", want: ""},
		{name: "birth year", fn: func(s string) string { return fmt.Sprint(BirthYear(s)) }, in: "440524188001010014", want: "1880"},
		{name: "birth year, not an ID", fn: func(s string) string { return fmt.Sprint(BirthYear(s)) }, in: "13800138000", want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.in); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
