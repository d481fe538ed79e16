package filedrop

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// Encodings a text file may be read in.
const (
	EncodingAuto    = "auto"
	EncodingUTF8    = "utf-8"
	EncodingGBK     = "gbk"
	EncodingGB18030 = "gb18030"
	// encodingUTF8BOM is what detection reports for UTF-8 with a byte-order
	// mark, which the reader skips.
	encodingUTF8BOM = "utf-8 (BOM)"
)

// Formats a file may have.
const (
	FormatAuto   = "auto"
	FormatCSV    = "csv"
	FormatXLSX   = "xlsx"
	FormatNDJSON = "ndjson"
)

var bomUTF8 = []byte{0xEF, 0xBB, 0xBF}

// utf8Scan is an io.Writer that learns, in one pass over a file, whether it
// starts with a byte-order mark and whether it is valid UTF-8 throughout.
type utf8Scan struct {
	head  []byte // the first bytes, for the BOM
	carry []byte // an incomplete rune at the end of the last write
	n     int64  // bytes seen
	bad   int64  // offset of the first invalid byte, -1 if none
}

func newUTF8Scan() *utf8Scan { return &utf8Scan{bad: -1} }

func (u *utf8Scan) Write(p []byte) (int, error) {
	if len(u.head) < 4 {
		u.head = append(u.head, p[:min(len(p), 4-len(u.head))]...)
	}
	start := u.n - int64(len(u.carry))
	u.n += int64(len(p))
	if u.bad >= 0 {
		return len(p), nil
	}
	b := p
	if len(u.carry) > 0 {
		b = append(u.carry, p...)
	}
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(b[:cut]) {
		u.bad = start + int64(firstInvalid(b[:cut]))
		return len(p), nil
	}
	u.carry = append(u.carry[:0], b[cut:]...)
	return len(p), nil
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// valid reports whether everything written was UTF-8; it is called at the end.
func (u *utf8Scan) valid() bool {
	if u.bad < 0 && len(u.carry) > 0 {
		u.bad = u.n - int64(len(u.carry))
	}
	return u.bad < 0
}

// detect decides a text file's encoding from the scan of all its bytes and
// the declared encoding: a UTF-8 BOM wins; auto takes UTF-8 when every
// byte is valid UTF-8 and GB18030 (a superset of GBK and GB2312) otherwise.
func detect(declared string, u *utf8Scan) (string, error) {
	if bytes.HasPrefix(u.head, bomUTF8) {
		if !u.valid() {
			return "", fmt.Errorf("starts with a UTF-8 byte-order mark but is not valid UTF-8 (first bad byte at offset %d); save it again as CSV UTF-8", u.bad)
		}
		return encodingUTF8BOM, nil
	}
	if bytes.HasPrefix(u.head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(u.head, []byte{0xFE, 0xFF}) {
		return "", errors.New("is UTF-16, which is not read; save it as CSV UTF-8 or CSV (GBK)")
	}
	switch declared {
	case EncodingGBK, EncodingGB18030:
		return declared, nil
	case EncodingUTF8:
		if !u.valid() {
			return "", fmt.Errorf("is not valid UTF-8 (first bad byte at offset %d); set encoding: auto or gb18030 if the file comes from a Chinese Windows Excel", u.bad)
		}
		return EncodingUTF8, nil
	}
	if u.valid() {
		return EncodingUTF8, nil
	}
	return EncodingGB18030, nil
}

// decoded returns r as UTF-8 text.
func decoded(r io.Reader, enc string) io.Reader {
	switch enc {
	case EncodingGBK:
		return transform.NewReader(r, simplifiedchinese.GBK.NewDecoder())
	case EncodingGB18030:
		return transform.NewReader(r, simplifiedchinese.GB18030.NewDecoder())
	case encodingUTF8BOM:
		br := bufio.NewReaderSize(r, 64<<10)
		if b, err := br.Peek(3); err == nil && bytes.Equal(b, bomUTF8) {
			_, _ = br.Discard(3)
		}
		return br
	}
	return r
}

// rowReader yields a file's rows in order. For CSV and XLSX the cells are
// the row's columns; for NDJSON the single cell is the line.
type rowReader interface {
	// next returns the next row's 1-based number (the line of a text file,
	// the row of a sheet) and its cells; io.EOF after the last. Any other
	// error means the rest of the file cannot be read.
	next() (int, []string, error)
	Close() error
}

type csvRows struct {
	r    *csv.Reader
	lim  *recordLimit
	prev int64 // where the last record ended
	c    io.Closer
}

// newCSVRows reads CSV records of at most maxRow bytes each: the reader
// stops at a longer one without holding it.
func newCSVRows(r io.Reader, enc string, comma rune, maxRow int64, c io.Closer) *csvRows {
	lim := &recordLimit{r: bufio.NewReaderSize(decoded(r, enc), 64<<10), max: maxRow}
	cr := csv.NewReader(lim)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	return &csvRows{r: cr, lim: lim, c: c}
}

func (c *csvRows) next() (int, []string, error) {
	rec, err := c.r.Read()
	if err != nil {
		var long *rowTooLong
		if errors.As(err, &long) {
			return 0, nil, long
		}
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("read CSV: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	end := c.r.InputOffset()
	if end-c.prev > c.lim.max {
		return 0, nil, &rowTooLong{row: line, max: c.lim.max}
	}
	c.prev = end
	c.lim.advance(end)
	return line, rec, nil
}

func (c *csvRows) Close() error {
	if c.c == nil {
		return nil
	}
	return c.c.Close()
}

type ndjsonRows struct {
	r       *bufio.Reader
	line    int
	maxLine int64
	c       io.Closer
}

// newNDJSONRows reads lines of at most maxLine bytes.
func newNDJSONRows(r io.Reader, enc string, maxLine int64, c io.Closer) *ndjsonRows {
	return &ndjsonRows{r: bufio.NewReaderSize(decoded(r, enc), 64<<10), maxLine: maxLine, c: c}
}

func (n *ndjsonRows) next() (int, []string, error) {
	for {
		b, err := n.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) && int64(len(long)) <= n.maxLine {
				b, err = n.r.ReadSlice('\n')
				long = append(long, b...)
			}
			if int64(len(long)) > n.maxLine {
				return 0, nil, &rowTooLong{row: n.line + 1, max: n.maxLine}
			}
			b = long
		}
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil, io.EOF
			}
			return 0, nil, fmt.Errorf("read NDJSON: %w", err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("read NDJSON: %w", err)
		}
		n.line++
		if t := bytes.TrimSpace(b); len(t) > 0 {
			return n.line, []string{string(t)}, nil
		}
	}
}

func (n *ndjsonRows) Close() error {
	if n.c == nil {
		return nil
	}
	return n.c.Close()
}

type xlsxRows struct {
	f      *excelize.File
	rows   *excelize.Rows
	n      int
	maxRow int64
	check  *workbookCheck
}

// newXLSXRows opens sheet (the first when "") of the workbook in data and
// streams its rows: the sheet's XML is parsed as it is read, so a 50,000-row
// sheet is never held as rows. Cells are raw values: a date cell gives its
// serial number, read by the layout "excel".
//
// checkWorkbook runs first: a workbook unpacking to more than maxUnzipped
// is refused before excelize unpacks anything (so its temporary files,
// for sheets over 16 MiB, are bounded by it too), and reading stops before
// the first row that holds more than maxRow bytes of XML or text.
func newXLSXRows(data []byte, sheet string, maxUnzipped, maxRow int64) (*xlsxRows, string, error) {
	check, err := checkWorkbook(data, sheet, maxUnzipped, maxRow)
	if err != nil {
		return nil, "", err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{RawCellValue: true, UnzipSizeLimit: maxUnzipped})
	if err != nil {
		return nil, "", fmt.Errorf("open workbook: %w", err)
	}
	sheets := f.GetSheetList()
	if sheet == "" {
		if len(sheets) == 0 {
			_ = f.Close()
			return nil, "", errors.New("the workbook has no sheet")
		}
		sheet = sheets[0]
	} else if idx, _ := f.GetSheetIndex(sheet); idx < 0 {
		_ = f.Close()
		return nil, "", fmt.Errorf("the workbook has no sheet %q; its sheets: %q", sheet, sheets)
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		_ = f.Close()
		return nil, "", fmt.Errorf("read sheet %q: %w", sheet, err)
	}
	return &xlsxRows{f: f, rows: rows, maxRow: maxRow, check: check}, sheet, nil
}

func (x *xlsxRows) next() (int, []string, error) {
	if x.check.stop != nil && x.n >= x.check.after {
		return 0, nil, x.check.stop
	}
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return 0, nil, fmt.Errorf("read sheet: %w", err)
		}
		return 0, nil, io.EOF
	}
	x.n++
	cols, err := x.rows.Columns()
	if err != nil {
		return 0, nil, fmt.Errorf("read sheet row %d: %w", x.n, err)
	}
	var n int64
	for _, c := range cols {
		n += int64(len(c))
	}
	if n > x.maxRow { // shared strings may make a short row of XML long
		return 0, nil, &rowTooLong{row: x.n, max: x.maxRow}
	}
	return x.n, cols, nil
}

func (x *xlsxRows) Close() error {
	err := x.rows.Close()
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}
