// Package pii protects the personal data that source systems send with their
// records: resident ID numbers (公民身份号码, GB 11643) and mainland mobile
// numbers. It is applied in the connector, before a record is produced, so
// that no raw value reaches Kafka, DuckDB, logs, metrics or dead letters.
//
// # What is protected, and how
//
// A raw value is first normalised (NormalizeID, NormalizeMobile): full-width
// digits become ASCII, a lower-case check character x becomes X, a 15-digit
// legacy ID (GB 11643-1989) is converted to 18 digits, mobile prefixes
// +86/0086/86 and separators are removed, and the result is validated with the
// checks of package schemas. Normalisation makes the same person's number
// spelled differently in two source systems produce the same pseudonym.
//
// The normalised value then leaves the connector only as
//
//   - a keyed pseudonym, the lower-case hex HMAC-SHA256 of kind + ":" + value
//     (Key.Pseudonym), used for joins. Resident IDs and mobile numbers have so
//     little entropy (an ID is a county, a date and four digits) that an
//     unkeyed hash is reversed by enumeration in minutes; the key is what makes
//     the pseudonym worth having. The kind prefix keeps an ID and a mobile
//     number with the same digits apart;
//   - a masked display form (MaskID: first 3 + 11 '*' + last 4,
//     220***********0425; MaskMobile: 3 + "****" + 4, 138****8000);
//   - coarse attributes derived from an ID: birth year and gender (Protected).
//     HukouArea is available to callers that have a purpose for the county.
//
// Key.ProtectID and Key.ProtectMobile do all of this in one call. ScrubText
// masks anything shaped like an ID or a mobile number in free text (error
// messages, remarks, payloads bound for the dead-letter topic). Errors of this
// package never contain the value they refused, nor any part of it.
//
// # Keys and rotation
//
// A Key is a secret of at least 32 bytes with a version label (KeyFromEnv reads
// YIWANG_PII_KEY and YIWANG_PII_KEY_VERSION). The version is stored next to
// every pseudonym (Protected.KeyVersion) and is not mixed into the HMAC: it
// names the secret, so relabelling the same secret changes nothing. A new
// secret gives every person new pseudonyms. Records pseudonymised under two
// different secrets cannot be joined on the pseudonym; joining across key
// versions needs the older records re-keyed from the source systems, which
// still hold the raw values. This package does not re-key: it cannot, since
// it never keeps a raw value. EphemeralKey gives a random key for the demo,
// whose pseudonyms do not survive a restart.
//
// A Key does not print its secret: String, GoString, Format, LogValue and
// MarshalJSON show only the version.
//
// # Metrics
//
// The package exports no metrics and does no logging; callers count what
// they protect and what they refuse.
package pii
