package queries

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pos is a place in a file, 1-based.
type pos struct{ line, col int }

// sqlText is what a light scan of a query's SQL finds outside string
// literals and comments: enough to check the query's shape before DuckDB
// sees it, and to point at the place of each problem.
type sqlText struct {
	first        string         // the first word, upper-cased
	firstAt      pos            // where it is
	semicolons   []semicolon    // statement separators
	last         int            // offset of the last byte outside comments and space, -1 if none
	params       []sqlParam     // $name parameters, in order
	positional   []pos          // ? and $1 parameters
	words        map[string]pos // identifiers (lower-cased), first place each
	unterminated *pos           // a string, identifier or comment left open here
}

type semicolon struct {
	at  pos
	off int
}

type sqlParam struct {
	name string
	at   pos
}

// scanSQL scans sql, whose first byte sits on line firstLine, column 1.
// It knows DuckDB's lexical forms: '...' strings (with ” inside, and E'...'
// with backslash escapes), "..." identifiers, $tag$...$tag$ strings, --
// comments and nested /* */ comments.
func scanSQL(sql string, firstLine int) sqlText {
	st := sqlText{words: map[string]pos{}, last: -1}
	line, col := firstLine, 1
	i := 0
	// advance moves past n bytes, keeping line and column.
	advance := func(n int) {
		for end := i + n; i < end && i < len(sql); {
			r, size := utf8.DecodeRuneInString(sql[i:])
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
			i += size
		}
	}
	word := func(w string, at pos) {
		if st.first == "" {
			st.first, st.firstAt = strings.ToUpper(w), at
		}
		lw := strings.ToLower(w)
		if _, ok := st.words[lw]; !ok {
			st.words[lw] = at
		}
	}
	for i < len(sql) {
		c := sql[i]
		here := pos{line, col}
		start := i
		comment := strings.HasPrefix(sql[i:], "--") || strings.HasPrefix(sql[i:], "/*")
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			advance(end)
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			depth := 0
			for i < len(sql) {
				switch {
				case strings.HasPrefix(sql[i:], "/*"):
					depth++
					advance(2)
				case strings.HasPrefix(sql[i:], "*/"):
					depth--
					advance(2)
				default:
					advance(1)
				}
				if depth == 0 {
					break
				}
			}
			if depth > 0 {
				st.unterminated = &here
				return st
			}
		case c == '\'' || ((c == 'e' || c == 'E') && strings.HasPrefix(sql[i+1:], "'")):
			escapes := c != '\''
			if escapes {
				advance(1)
			}
			advance(1)
			closed := false
			for i < len(sql) {
				switch {
				case escapes && sql[i] == '\\':
					advance(2)
				case strings.HasPrefix(sql[i:], "''"):
					advance(2)
				case sql[i] == '\'':
					advance(1)
					closed = true
				default:
					advance(1)
				}
				if closed {
					break
				}
			}
			if !closed {
				st.unterminated = &here
				return st
			}
		case c == '"':
			advance(1)
			var b strings.Builder
			closed := false
			for i < len(sql) {
				if strings.HasPrefix(sql[i:], `""`) {
					b.WriteByte('"')
					advance(2)
					continue
				}
				if sql[i] == '"' {
					advance(1)
					closed = true
					break
				}
				b.WriteByte(sql[i])
				advance(1)
			}
			if !closed {
				st.unterminated = &here
				return st
			}
			word(b.String(), here)
		case c == '$':
			j := i + 1
			for j < len(sql) && isIdentByte(sql[j], j > i+1) {
				j++
			}
			tag := sql[i+1 : j]
			switch {
			case j < len(sql) && sql[j] == '$': // $$ or $tag$: a string up to the same tag
				delim := sql[i : j+1]
				end := strings.Index(sql[j+1:], delim)
				if end < 0 {
					st.unterminated = &here
					return st
				}
				advance(j + 1 - i + end + len(delim))
			case tag == "":
				num := j
				for num < len(sql) && sql[num] >= '0' && sql[num] <= '9' {
					num++
				}
				if num > j {
					st.positional = append(st.positional, here)
				}
				advance(max(num-i, 1))
			default:
				st.params = append(st.params, sqlParam{tag, here})
				advance(j - i)
			}
		case c == '?':
			st.positional = append(st.positional, here)
			advance(1)
		case c == ';':
			st.semicolons = append(st.semicolons, semicolon{here, i})
			advance(1)
		case isIdentByte(c, false):
			j := i
			for j < len(sql) && isIdentByte(sql[j], true) {
				j++
			}
			if c < utf8.RuneSelf && !unicode.IsDigit(rune(c)) {
				word(sql[i:j], here)
			}
			advance(j - i)
		default:
			advance(1)
		}
		if !comment && !unicode.IsSpace(rune(c)) {
			st.last = start
		}
	}
	return st
}

// isIdentByte reports whether c may be part of an identifier (letters,
// digits after the first byte, underscores, and any non-ASCII byte).
func isIdentByte(c byte, notFirst bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf ||
		(notFirst && c >= '0' && c <= '9')
}
