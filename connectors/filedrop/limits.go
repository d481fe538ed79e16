package filedrop

// Size limits enforced while a file streams: a row (record, line, sheet
// row) may span at most max_row_bytes, so no reader ever holds more; a
// workbook may unpack to at most max_unzipped_bytes. A cell over
// max_cell_bytes refuses its row only (Source.record).

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// Default limits.
const (
	DefaultMaxCellBytes     = 128 << 10 // Excel's 32,767 characters, 3 bytes each in UTF-8
	DefaultMaxRowBytes      = 1 << 20   // what one Kafka message holds
	DefaultMaxUnzippedBytes = 256 << 20
	// maxPartBytes bounds a workbook part excelize parses whole when it
	// opens the file (workbook, styles, theme, relationships).
	maxPartBytes = 16 << 20
	// maxSharedStrings bounds the texts of a workbook's shared-strings
	// part: excelize keeps an index entry (about 60 bytes) or a decoded
	// item (about 150) for each, so a part of millions of empty <si/>
	// costs gigabytes while its bytes stay within max_unzipped_bytes.
	// A sheet of Excel's 1,048,576 rows with one distinct text each
	// stays within it.
	maxSharedStrings = 1 << 20
	// readSlack is how far csv.Reader's buffer reads past a record.
	readSlack = 4096
)

// sizeText writes n bytes for a clerk: "256 MiB", "1.9 GiB", "300 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// rowTooLong fails a file at the row that exceeds max_row_bytes.
type rowTooLong struct {
	row int   // the row (line of a text file, row of a sheet)
	max int64 // the limit
}

func (e *rowTooLong) Error() string {
	return fmt.Sprintf("row %d is longer than %s (limit max_row_bytes); shorten its text or split it", e.row, sizeText(e.max))
}

// recordLimit sits between a text file and csv.Reader and fails the read
// once the record being read (from the end of the last one returned, which
// its reader passes to advance) would pass max bytes, so that the reader
// never holds a longer one. csv.Reader's InputOffset cannot tell where the
// record started: it moves on with every line of a quoted field that spans
// lines. It counts the lines before the record for the error.
type recordLimit struct {
	r     io.Reader
	max   int64
	n     int64   // bytes handed out
	start int64   // where the record being read starts
	lines int     // newlines before start
	nl    []int64 // offsets of the newlines from start on
}

func (l *recordLimit) Read(p []byte) (int, error) {
	room := l.start + l.max + readSlack + 1 - l.n
	if room <= 0 {
		return 0, &rowTooLong{row: l.startLine(), max: l.max}
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	for i, b := 0, p[:n]; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		l.nl = append(l.nl, l.n+int64(i+j))
		i += j + 1
	}
	l.n += int64(n)
	return n, err
}

// advance moves the record's start to off.
func (l *recordLimit) advance(off int64) {
	if off <= l.start {
		return
	}
	k := 0
	for k < len(l.nl) && l.nl[k] < off {
		k++
	}
	l.lines += k
	l.nl = append(l.nl[:0], l.nl[k:]...)
	l.start = off
}

// startLine is the 1-based line the record being read starts on, blank
// lines before it skipped as the CSV reader skips them.
func (l *recordLimit) startLine() int {
	line, at := l.lines+1, l.start
	for _, p := range l.nl {
		if p != at && !(p == at+1) { // a blank line is "\n" or "\r\n"
			break
		}
		line, at = line+1, p+1
	}
	return line
}

// workbookCheck is what the check of a workbook found about its sheet.
type workbookCheck struct {
	// stop, when set, fails the read after row after: the rows up to it can
	// be read safely, the next would pass a limit.
	stop  error
	after int
}

// checkWorkbook looks at an XLSX before excelize opens it, so that excelize
// never unpacks or parses more than the limits allow: the declared sizes of
// its parts (archive/zip refuses to read a part past its declared size, so
// they bound what it unpacks to), then the sheet's XML and the shared
// strings, streamed through a scanner that finds the first row or XML
// token over max_row_bytes. A file that is no zip is left to excelize to
// report.
func checkWorkbook(data []byte, sheet string, maxUnzipped, maxRow int64) (*workbookCheck, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return &workbookCheck{}, nil
	}
	var total uint64
	parts := map[string]*zip.File{}
	for _, f := range zr.File {
		total += f.UncompressedSize64
		name := strings.ReplaceAll(f.Name, `\`, "/")
		parts[strings.ToLower(name)] = f
		lower := strings.ToLower(name)
		parsed := strings.HasSuffix(lower, ".xml") || strings.HasSuffix(lower, ".rels")
		if parsed && !strings.HasPrefix(lower, "xl/worksheets/") && lower != "xl/sharedstrings.xml" && f.UncompressedSize64 > maxPartBytes {
			return nil, fmt.Errorf("its part %s unpacks to %s, more than the %s a workbook part other than a sheet may have; save the workbook again from Excel", name, sizeText(int64(f.UncompressedSize64)), sizeText(maxPartBytes))
		}
	}
	if total > uint64(maxUnzipped) {
		return nil, fmt.Errorf("the sheet unpacks to more than %s (limit max_unzipped_bytes): its parts declare %s; split the workbook or raise the limit", sizeText(maxUnzipped), sizeText(int64(min(total, 1<<62))))
	}
	if sst := parts["xl/sharedstrings.xml"]; sst != nil {
		v, err := scanPart(sst, "si", maxRow, maxSharedStrings)
		if err != nil {
			return nil, fmt.Errorf("read shared strings: %w", err)
		}
		if v != nil && v.tooMany {
			return nil, fmt.Errorf("its shared strings hold more than %d texts, more than a workbook this connector reads may have; save the sheet as CSV, or split it", maxSharedStrings)
		}
		if v != nil {
			return nil, fmt.Errorf("its shared strings hold a text longer than %s (limit max_row_bytes); shorten the longest cells", sizeText(maxRow))
		}
	}
	sheets := []*zip.File{}
	if p := sheetPart(parts, sheet); p != nil {
		sheets = append(sheets, p)
	} else {
		for name, f := range parts {
			if strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml") {
				sheets = append(sheets, f)
			}
		}
	}
	for _, f := range sheets {
		v, err := scanPart(f, "row", maxRow, 0)
		if err != nil {
			return nil, fmt.Errorf("read sheet: %w", err)
		}
		if v == nil {
			continue
		}
		if len(sheets) > 1 { // which sheet is read is not known: stop at once
			return nil, v.err(maxRow)
		}
		return &workbookCheck{stop: v.err(maxRow), after: v.after}, nil
	}
	return &workbookCheck{}, nil
}

// sheetPart finds the part of the named sheet (the first when "") through
// xl/workbook.xml and its relationships, as excelize does; nil when it
// cannot tell.
func sheetPart(parts map[string]*zip.File, sheet string) *zip.File {
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if decodePart(parts["xl/workbook.xml"], &wb) != nil || decodePart(parts["xl/_rels/workbook.xml.rels"], &rels) != nil {
		return nil
	}
	id := ""
	for _, s := range wb.Sheets {
		if sheet == "" || s.Name == sheet {
			id = s.ID
			break
		}
	}
	for _, r := range rels.Rel {
		if r.ID != id || id == "" {
			continue
		}
		target := strings.ReplaceAll(r.Target, `\`, "/")
		if strings.HasPrefix(target, "/") {
			target = strings.TrimPrefix(target, "/")
		} else {
			target = path.Join("xl", target)
		}
		return parts[strings.ToLower(target)]
	}
	return nil
}

func decodePart(f *zip.File, v any) error {
	if f == nil {
		return fmt.Errorf("no part")
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	return xml.NewDecoder(rc).Decode(v)
}

// scanPart streams a part through an xmlScan; maxSpans, when not 0,
// bounds how many span elements it may hold.
func scanPart(f *zip.File, span string, max int64, maxSpans int) (*xmlViolation, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	s := newXMLScan(span, max)
	buf := make([]byte, 64<<10)
	for {
		n, err := rc.Read(buf)
		if v := s.write(buf[:n]); v != nil {
			return v, nil
		}
		if maxSpans > 0 && s.spans > maxSpans {
			return &xmlViolation{tooMany: true}, nil
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// xmlViolation is the first place of an XML part over the limit.
type xmlViolation struct {
	row    int  // the row it is in, or the row after the last complete one
	inRow  bool // inside a row's content (not its start tag, not between rows)
	after  int  // the rows up to this one can be read without reaching it
	before int  // the last complete row before it
	// tooMany: the part holds more span elements than allowed.
	tooMany bool
}

func (v *xmlViolation) err(max int64) error {
	if v.inRow {
		return &rowTooLong{row: v.row, max: max}
	}
	if v.before == 0 {
		return fmt.Errorf("the sheet holds, before its first row, an XML element longer than %s (limit max_row_bytes)", sizeText(max))
	}
	return fmt.Errorf("the sheet holds, after row %d, an XML element longer than %s (limit max_row_bytes)", v.before, sizeText(max))
}

// xmlScan follows the bytes of an XML part without parsing it: it measures
// every token (text, tag, comment, CDATA section) and every span element
// (row or si), and numbers rows as excelize does (the r attribute, else
// one more than the last). encoding/xml holds a token whole, and excelize
// a row's or shared string's text, so each is bounded by max.
type xmlScan struct {
	span      string
	max       int64
	pos       int64
	state     int
	tok       int64  // bytes of the current token
	head      []byte // the start of the current tag
	quote     byte
	last2     [2]byte
	inSpan    bool
	spanStart int64
	row       int // number of the row being read
	last      int // the last complete row
	prev      int // the complete row before it
	spans     int // span elements started so far
}

const (
	stText = iota
	stTag
	stComment
	stCDATA
)

const maxHead = 512

func newXMLScan(span string, max int64) *xmlScan { return &xmlScan{span: span, max: max} }

func (s *xmlScan) write(p []byte) *xmlViolation {
	for i := 0; i < len(p); {
		if s.state == stText {
			j := bytes.IndexByte(p[i:], '<')
			if j < 0 {
				s.tok += int64(len(p) - i)
				s.pos += int64(len(p) - i)
				if v := s.check(); v != nil {
					return v
				}
				return nil
			}
			s.tok += int64(j)
			s.pos += int64(j)
			if v := s.check(); v != nil {
				return v
			}
			i += j
			s.state, s.tok, s.head, s.quote = stTag, 0, s.head[:0], 0
		}
		b := p[i]
		i++
		s.pos++
		s.tok++
		switch s.state {
		case stTag:
			if len(s.head) < maxHead {
				s.head = append(s.head, b)
				switch string(s.head) {
				case "<!--":
					s.state = stComment
				case "<![CDATA[":
					s.state = stCDATA
				}
			}
			switch {
			case s.quote != 0:
				if b == s.quote {
					s.quote = 0
				}
			case b == '"' || b == '\'':
				s.quote = b
			case b == '>':
				s.endTag()
				s.state, s.tok = stText, 0
			}
		case stComment:
			if b == '>' && s.last2 == [2]byte{'-', '-'} {
				s.state, s.tok = stText, 0
			}
		case stCDATA:
			if b == '>' && s.last2 == [2]byte{']', ']'} {
				s.state, s.tok = stText, 0
			}
		}
		s.last2 = [2]byte{s.last2[1], b}
		if v := s.check(); v != nil {
			return v
		}
	}
	return nil
}

// check returns the violation when the current token or span is too long.
func (s *xmlScan) check() *xmlViolation {
	if s.tok <= s.max && (!s.inSpan || s.pos-s.spanStart <= s.max) {
		return nil
	}
	if s.inSpan {
		return &xmlViolation{row: s.row, inRow: true, after: s.last, before: s.last}
	}
	// Rows numbered out of order (an r attribute going down) must not
	// let more rows be read than came before the violation.
	return &xmlViolation{row: s.last + 1, after: min(s.prev, s.last), before: s.last}
}

// endTag handles a complete tag: the start and end of span elements.
func (s *xmlScan) endTag() {
	h := s.head
	closing := len(h) > 1 && h[1] == '/'
	name := h[1:]
	if closing {
		name = h[2:]
	}
	if k := bytes.IndexAny(name, " \t\r\n/>"); k >= 0 {
		name = name[:k]
	}
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		name = name[k+1:]
	}
	if string(name) != s.span {
		return
	}
	selfClosing := bytes.HasSuffix(h, []byte("/>"))
	switch {
	case closing:
		s.inSpan = false
		s.prev, s.last = s.last, s.row
	case selfClosing:
		s.spans++
		s.row = s.rowNumber(h)
		s.prev, s.last = s.last, s.row
	default:
		s.spans++
		s.row = s.rowNumber(h)
		s.inSpan, s.spanStart = true, s.pos-s.tok
	}
}

// rowNumber reads the r attribute of a row's start tag.
func (s *xmlScan) rowNumber(tag []byte) int {
	for _, q := range []string{` r="`, ` r='`, "\tr=\"", "\nr=\""} {
		if k := bytes.Index(tag, []byte(q)); k >= 0 {
			rest := tag[k+len(q):]
			if e := bytes.IndexAny(rest, `"'`); e >= 0 {
				if n, err := strconv.Atoi(string(rest[:e])); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return s.last + 1
}
