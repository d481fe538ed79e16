package pii

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
)

// Environment variables read by KeyFromEnv.
const (
	EnvKey        = "YIWANG_PII_KEY"
	EnvKeyVersion = "YIWANG_PII_KEY_VERSION"
)

// MinSecretLen is the shortest secret a Key accepts, in bytes.
const MinSecretLen = 32

// maxVersionLen bounds a key version label.
const maxVersionLen = 32

// ephemeralVersion labels the keys EphemeralKey makes.
const ephemeralVersion = "ephemeral"

// keyHint tells an operator how to make a key; it is appended to every
// KeyFromEnv error that concerns the secret.
const keyHint = "set " + EnvKey + " to at least 32 random bytes, hex- or base64-encoded " +
	"(for example " + EnvKey + "=$(openssl rand -hex 32)), and " + EnvKeyVersion +
	` to a label for it (default "1")`

// Kind says what a pseudonymised value is. It is part of the HMAC input, so
// that a resident ID and a mobile number with the same digits never get the
// same pseudonym.
type Kind string

// The kinds of personal value this package pseudonymises.
const (
	KindResidentID Kind = "id"
	KindMobile     Kind = "mobile"
)

// Key is the secret behind the pseudonyms, with a version label that is
// stored next to each pseudonym. Use it through a *Key made by NewKey,
// KeyFromEnv or EphemeralKey; the zero Key has no secret.
//
// A Key never prints or marshals its secret: String, GoString, Format,
// LogValue and MarshalJSON show "pii.Key(version=…)" or the version only.
// These methods have value receivers so that a Key printed by value is
// covered too. The secret itself is held only inside a closure, which fmt and
// reflection cannot open: even a struct holding a Key in an unexported field,
// printed with any verb, shows a function address, not the bytes.
type Key struct {
	newMAC  func() hash.Hash // HMAC-SHA256 under the secret; nil for the zero Key
	version string
}

// NewKey returns a Key holding a copy of secret, labelled version. The secret
// must have at least MinSecretLen bytes; the version 1 to 32 characters from
// A-Z, a-z, 0-9, '.', '_' and '-'. Errors never contain either.
func NewKey(secret []byte, version string) (*Key, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("new pii key: secret has %d bytes, needs at least %d", len(secret), MinSecretLen)
	}
	if err := checkVersion(version); err != nil {
		return nil, fmt.Errorf("new pii key: %w", err)
	}
	return newKey(append([]byte(nil), secret...), version), nil
}

// checkVersion validates a version label against ^[A-Za-z0-9._-]{1,32}$.
// The label is not echoed: a misconfigured deployment may have put the
// secret in the version variable.
func checkVersion(v string) error {
	if len(v) == 0 || len(v) > maxVersionLen {
		return fmt.Errorf("version must have 1 to %d characters, has %d", maxVersionLen, len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return errors.New("version may only contain A-Z, a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// KeyFromEnv reads the key from YIWANG_PII_KEY (at least 32 bytes, hex if the
// value is made only of hex digits, base64 otherwise, standard or URL
// alphabet, padded or not) and its label from YIWANG_PII_KEY_VERSION ("1"
// when unset or empty). getenv is os.LookupEnv in production. Errors say
// which variable to set and how, and never contain a value.
func KeyFromEnv(getenv func(string) (string, bool)) (*Key, error) {
	if getenv == nil {
		return nil, errors.New("read pii key: no environment lookup given (pass os.LookupEnv)")
	}
	raw, ok := getenv(EnvKey)
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return nil, fmt.Errorf("read pii key: %s is not set: %s", EnvKey, keyHint)
	}
	secret, encoding, err := decodeSecret(raw)
	if err != nil {
		return nil, fmt.Errorf("read pii key: %s: %w: %s", EnvKey, err, keyHint)
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("read pii key: %s decodes as %s to %d bytes, needs at least %d: %s",
			EnvKey, encoding, len(secret), MinSecretLen, keyHint)
	}
	version, ok := getenv(EnvKeyVersion)
	version = strings.TrimSpace(version)
	if !ok || version == "" {
		version = "1"
	}
	if err := checkVersion(version); err != nil {
		return nil, fmt.Errorf("read pii key: %s: %w", EnvKeyVersion, err)
	}
	return NewKey(secret, version)
}

// decodeSecret decodes a hex or base64 secret and names the encoding used.
func decodeSecret(s string) ([]byte, string, error) {
	if isHex(s) {
		b, err := hex.DecodeString(s)
		if err == nil {
			return b, "hex", nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, "base64", nil
		}
	}
	return nil, "", errors.New("is neither hex nor base64")
}

// isHex reports whether s is an even number of hex digits.
func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// EphemeralKey returns a key of 32 random bytes labelled "ephemeral", for the
// demo only: its pseudonyms cannot be reproduced after the process exits.
func EphemeralKey() *Key {
	secret := make([]byte, MinSecretLen)
	// crypto/rand.Read does not return an error: since Go 1.24 it aborts the
	// program if the operating system cannot supply randomness.
	_, _ = rand.Read(secret)
	return newKey(secret, ephemeralVersion)
}

// newKey wraps secret, which the caller must not keep, in a Key.
func newKey(secret []byte, version string) *Key {
	return &Key{
		newMAC:  func() hash.Hash { return hmac.New(sha256.New, secret) },
		version: version,
	}
}

// usable reports whether k can make pseudonyms.
func (k *Key) usable() bool {
	return k != nil && k.newMAC != nil
}

// Version returns the key's version label, to be stored next to each
// pseudonym made with it; "" for a nil Key.
func (k *Key) Version() string {
	if k == nil {
		return ""
	}
	return k.version
}

// Pseudonym returns the lower-case hex HMAC-SHA256, under k, of
// kind + ":" + normalized. normalized must be the output of NormalizeID or
// NormalizeMobile, so that every spelling of a number gives one pseudonym.
// The version label is not part of the input. A nil Key or one without a
// secret (the zero Key) returns "", never an unkeyed hash.
func (k *Key) Pseudonym(kind Kind, normalized string) string {
	if !k.usable() {
		return ""
	}
	mac := k.newMAC()
	_, _ = io.WriteString(mac, string(kind)) // a hash.Hash never returns an error
	_, _ = io.WriteString(mac, ":")
	_, _ = io.WriteString(mac, normalized)
	return hex.EncodeToString(mac.Sum(nil))
}

// String returns "pii.Key(version=…)"; it never shows the secret.
func (k Key) String() string {
	return "pii.Key(version=" + k.version + ")"
}

// GoString is String, so that %#v does not show the secret.
func (k Key) GoString() string {
	return k.String()
}

// Format writes String for every verb, so that no fmt verb (%x, %+v, %#v...)
// shows the secret.
func (k Key) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, k.String())
}

// LogValue makes slog record the version only.
func (k Key) LogValue() slog.Value {
	return slog.StringValue(k.String())
}

// MarshalJSON encodes the key as {"version":"…"}, without the secret.
func (k Key) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(struct {
		Version string `json:"version"`
	}{k.version})
	if err != nil {
		return nil, fmt.Errorf("marshal pii key: %w", err)
	}
	return b, nil
}
