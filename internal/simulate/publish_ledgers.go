package simulate

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/yiwang-gov/yiwang/schemas"
)

// LedgerPublisher writes the ledgers community workers keep in Excel into a
// drop folder, one subfolder per record type:
//
//   - dir/door_visit: the door-knocking ledger (敲门行动台账) as XLSX, the
//     door visits written since the previous export;
//   - dir/store: the storefront ledger (十小门店台账) as CSV in GBK, as a
//     Chinese Windows Excel saves it, the stores added or updated since.
//
// Each file has a title in row 1 (长春新区敲门行动台账 2026H2 第3批), Chinese
// headers in row 2 and one record per row from row 3, with a 序号 column the
// connector ignores. Codes are written as the Chinese labels people use
// (已见面, 住户, 社区工作者, 小餐饮...), lists joined by 、, times as local
// Asia/Shanghai wall time: visit times as "2006-01-02 15:04" text or Excel
// date cells (mixed), the store's last visit as "2006-01-02 15:04:05", its
// last fire check as 2006-01-02, 2006/1/2 or 2006年1月2日. The columns 记录编号 /
// 门店编号 carry the record's key and 更新时间 its updated_at ("2006-01-02
// 15:04:05.000000", local), so that the files load as the same versions the
// simulator's Ledger holds. The store's contact phone is written as typed:
// sometimes with spaces, dashes, +86 or full-width digits, for the runner's
// normalisation.
//
// Invalid records are written as bad rows: a wrong grid or credit code as
// it is, a value outside an enumeration as a label the connector does not
// know (情况不明, 车辆, 路人, 酒吧), a malformed time as its text, a missing
// required field as an empty cell. Every one of them is refused by the
// schema, so the Ledger's expectation (every invalid record dead-lettered)
// holds. The empty cell is also why a ledger cannot tell an empty list from
// none: fields_updated [] and features [] load as null.
//
// Files are written atomically: under a name starting with ".tmp-" (which
// the connector skips), synced, then renamed to 敲门行动台账_<local time>_第<N>批.xlsx
// or 十小门店台账_<local time>_第<N>批.csv, never over an existing file.
// The batch number N counts this publisher's files from 1. A new publisher
// (after a restart of the process) starts from the beginning of the
// simulator's records: re-generated history written again is, with the
// same clock, the same content, which the connector recognises by its hash,
// or else newer versions of the same keys, which the loader's upsert keeps.
type LedgerPublisher struct {
	s      *Simulator
	dir    string
	labels ledgerLabels

	mu    sync.Mutex
	pos   position
	files map[kind]int // files written
}

var _ Publisher = (*LedgerPublisher)(nil)

// NewLedgerPublisher returns a publisher writing into dir, making dir and
// its subfolders.
func (s *Simulator) NewLedgerPublisher(dir string) (*LedgerPublisher, error) {
	p := &LedgerPublisher{s: s, dir: dir, labels: newLedgerLabels(), pos: newPosition(s, TransportLedgers), files: map[kind]int{}}
	for _, k := range p.pos.kinds() {
		if err := os.MkdirAll(filepath.Join(dir, s.kinds[k].name), 0o755); err != nil {
			return nil, fmt.Errorf("make ledger folder: %w", err)
		}
	}
	return p, nil
}

// Folder returns the folder a record type's ledgers are written to, and
// false for a type the publisher does not write.
func (p *LedgerPublisher) Folder(recordType string) (string, bool) {
	k, ok := p.s.kindOf(recordType)
	if _, covered := p.pos[k]; !ok || !covered {
		return "", false
	}
	return filepath.Join(p.dir, recordType), true
}

// Publish writes one file per record type with the records changed since
// the previous Publish (more files when more than 5000 changed); a type
// without changes gets no file. It returns the number of rows written.
func (p *LedgerPublisher) Publish(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pos.drain(ctx, p.s, p.write)
}

// RecordTypes returns the record types the publisher writes.
func (p *LedgerPublisher) RecordTypes() []string { return TransportLedgers.RecordTypes() }

// Close does nothing: the files are complete when Publish returns.
func (p *LedgerPublisher) Close() error { return nil }

// write writes one ledger file of kind k.
func (p *LedgerPublisher) write(k kind, batch []change) error {
	objs := make([]map[string]any, len(batch))
	for i, c := range batch {
		obj, err := schemas.Decode(c.raw)
		if err != nil {
			return fmt.Errorf("decode own %s %s: %w", p.s.kinds[k].name, c.id, err)
		}
		objs[i] = obj
	}
	now := p.s.cfg.Now().In(calendar.Zone)
	p.files[k]++
	n := p.files[k]
	folder := filepath.Join(p.dir, p.s.kinds[k].name)
	if err := os.MkdirAll(folder, 0o755); err != nil { // removed since?
		p.files[k]--
		return fmt.Errorf("make ledger folder: %w", err)
	}
	var err error
	switch k {
	case kDoorVisit:
		half := "H1"
		if now.Month() > 6 {
			half = "H2"
		}
		title := fmt.Sprintf("长春新区敲门行动台账 %d%s 第%d批", now.Year(), half, n)
		name := fmt.Sprintf("敲门行动台账_%s_第%04d批.xlsx", now.Format("20060102-150405"), n)
		err = dropFile(folder, name, func(w io.Writer) error { return p.doorVisitXLSX(w, title, objs) })
	case kStore:
		title := fmt.Sprintf("长春新区十小门店台账 第%d批（导出时间 %s）", n, now.Format("2006-01-02 15:04"))
		name := fmt.Sprintf("十小门店台账_%s_第%04d批.csv", now.Format("20060102-150405"), n)
		err = dropFile(folder, name, func(w io.Writer) error { return p.storeCSV(w, title, objs) })
	default:
		err = fmt.Errorf("no ledger for %s", p.s.kinds[k].name)
	}
	if err != nil {
		p.files[k]-- // the number is used by the next file
		return fmt.Errorf("write %s ledger: %w", p.s.kinds[k].name, err)
	}
	return nil
}

// dropFile writes a file into folder as name, atomically: a temporary file
// whose name starts with ".tmp-" is written, synced and renamed; the
// folder is synced after. An existing name gets -2, -3... before its
// extension. The folder has one writer, this publisher.
func dropFile(folder, name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(folder, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	abandon := func(err error) error {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return err
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := write(bw); err != nil {
		return abandon(err)
	}
	if err := bw.Flush(); err != nil {
		return abandon(fmt.Errorf("write %s: %w", tmp.Name(), err))
	}
	if err := tmp.Chmod(0o644); err != nil {
		return abandon(fmt.Errorf("chmod %s: %w", tmp.Name(), err))
	}
	if err := tmp.Sync(); err != nil {
		return abandon(fmt.Errorf("sync %s: %w", tmp.Name(), err))
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	final := filepath.Join(folder, name)
	for i := 2; ; i++ {
		if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
			break
		}
		final = filepath.Join(folder, fmt.Sprintf("%s-%d%s", base, i, ext))
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("rename into the drop folder: %w", err)
	}
	d, err := os.Open(folder)
	if err != nil {
		return fmt.Errorf("sync drop folder: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync drop folder: %w", err)
	}
	return nil
}

// doorVisitHeader is the door-visit ledger's header row.
func doorVisitHeader() []string {
	return []string{"序号", "记录编号", "敲门批次", "网格编码", "对象类型", "对象编号", "走访人身份", "走访时间", "走访结果", "经度", "纬度", "更新事项", "更新时间", "走访人工号"}
}

// doorVisitXLSX writes the door-visit ledger as a workbook.
func (p *LedgerPublisher) doorVisitXLSX(w io.Writer, title string, objs []map[string]any) (err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close workbook: %w", cerr)
		}
	}()
	const sheet = "台账"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("name sheet: %w", err)
	}
	dateFmt := "yyyy-mm-dd hh:mm"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		return fmt.Errorf("date style: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("stream sheet: %w", err)
	}
	header := doorVisitHeader()
	if err := sw.SetRow("A1", []any{title}); err != nil {
		return fmt.Errorf("write title: %w", err)
	}
	if err := sw.MergeCell("A1", cellName(len(header), 1)); err != nil {
		return fmt.Errorf("merge title: %w", err)
	}
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = h
	}
	if err := sw.SetRow("A2", hdr); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	lb := p.labels
	for i, obj := range objs {
		id, _ := text(obj, "visit_id")
		row := []any{
			i + 1,
			cell(obj, "visit_id"),
			cell(obj, "campaign_id"),
			cell(obj, "grid_code"),
			lb.cell(obj, "target_type"),
			cell(obj, "target_id"),
			lb.cell(obj, "visitor_role"),
			nil,
			lb.cell(obj, "outcome"),
			number(obj, "lon"),
			number(obj, "lat"),
			lb.list(obj, "fields_updated"),
			localCell(obj, "updated_at", "2006-01-02 15:04:05.000000"),
			cell(obj, "visitor_id"),
		}
		if v, ok := text(obj, "visited_at"); ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			switch {
			case err != nil:
				row[7] = v // malformed: as the clerk typed it
			case variant(id, 3) == 0:
				row[7] = excelize.Cell{StyleID: dateStyle, Value: excelSerial(t.In(calendar.Zone))}
			default:
				row[7] = t.In(calendar.Zone).Format("2006-01-02 15:04")
			}
		}
		if err := sw.SetRow(cellName(1, i+3), row); err != nil {
			return fmt.Errorf("write row %d: %w", i+3, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("flush sheet: %w", err)
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	return nil
}

// storeHeader is the store ledger's header row.
func storeHeader() []string {
	return []string{"序号", "门店编号", "招牌名称", "统一社会信用代码", "门店类别", "网格编码", "经营面积（平方米）", "从业人数", "特征", "联系电话", "最近走访时间", "最近消防检查", "更新时间"}
}

// storeCSV writes the store ledger as CSV in GBK with CRLF line ends.
func (p *LedgerPublisher) storeCSV(w io.Writer, title string, objs []map[string]any) error {
	gbk := transform.NewWriter(w, simplifiedchinese.GBK.NewEncoder())
	cw := csv.NewWriter(gbk)
	cw.UseCRLF = true
	rows := [][]string{{title}, storeHeader()}
	lb := p.labels
	for i, obj := range objs {
		id, _ := text(obj, "store_id")
		row := []string{
			strconv.Itoa(i + 1),
			fieldText(obj, "store_id"),
			fieldText(obj, "signboard"),
			fieldText(obj, "usci"),
			cellText(lb.cell(obj, "store_category")),
			fieldText(obj, "grid_code"),
			fieldText(obj, "area_m2"),
			fieldText(obj, "staff_n"),
			cellText(lb.list(obj, "features")),
			typedPhone(fieldText(obj, "contact_phone"), id),
			cellText(localCell(obj, "last_visit_at", "2006-01-02 15:04:05")),
			typedDate(fieldText(obj, "last_fire_check_on"), id),
			cellText(localCell(obj, "updated_at", "2006-01-02 15:04:05.000000")),
		}
		if variant(id+"staff", 5) == 0 {
			row[7] = fullWidth(row[7])
		}
		rows = append(rows, row)
	}
	for _, row := range rows {
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV in GBK: %w", err)
	}
	if err := gbk.Close(); err != nil {
		return fmt.Errorf("write CSV in GBK: %w", err)
	}
	return nil
}

// ledgerLabels are the Chinese labels the ledgers write for codes, by
// field, and the labels a clerk writes for values outside an enumeration.
type ledgerLabels struct {
	byField map[string]map[string]string
	bad     map[string]string
}

func newLedgerLabels() ledgerLabels {
	return ledgerLabels{
		byField: map[string]map[string]string{
			"outcome":      {"met": "已见面", "not_home": "不在家", "refused": "拒绝", "vacant": "空置", "moved": "已搬离"},
			"target_type":  {"household": "住户", "store": "门店", "building": "楼栋", "key_person": "重点人员"},
			"visitor_role": {"community_worker": "社区工作者", "three_heads": "三长", "police": "民警", "property": "物业", "sunk_cadre": "下沉干部", "volunteer": "志愿者"},
			"fields_updated": {"head_phone": "户主电话", "members_n": "人数", "occupancy": "居住方式", "tags": "特征值", "resident_type": "人口类型",
				"contact_phone": "联系电话", "features": "门店特征", "staff_n": "从业人数", "fire_check": "消防检查"},
			"store_category": {"catering": "小餐饮", "shop": "小商店", "hotel": "小旅馆", "entertainment": "小歌舞娱乐场所", "internet_cafe": "小网吧",
				"beauty_bath": "小美容洗浴场所", "clinic_care": "小医疗诊所", "school_training": "小培训机构", "workshop": "小生产加工作坊", "hazardous_storage": "小易燃易爆储存场所"},
			"features": {"gas_use": "使用燃气", "open_flame": "明火作业", "night_business": "夜间经营", "crowded": "人员密集", "ev_indoor_charging": "电动车室内充电",
				"extinguisher_missing": "缺少灭火器", "exit_blocked": "安全出口堵塞", "three_in_one": "三合一场所", "licence_expiring": "证照将到期"},
		},
		// The invalid records' out-of-enumeration codes (kindTable), as a
		// clerk would write them.
		bad: map[string]string{"unknown": "情况不明", "vehicle": "车辆", "stranger": "路人", "bar": "酒吧"},
	}
}

// label returns the label of code in field, a clerk's label for a bad
// code, or the code itself.
func (l ledgerLabels) label(field, code string) string {
	if s, ok := l.byField[field][code]; ok {
		return s
	}
	if s, ok := l.bad[code]; ok {
		return s
	}
	return code
}

// cell returns the label of field's code, or nil when it is absent.
func (l ledgerLabels) cell(obj map[string]any, field string) any {
	v, ok := text(obj, field)
	if !ok {
		return nil
	}
	return l.label(field, v)
}

// list returns the labels of a list field joined by 、, or nil when it is
// absent, null or empty.
func (l ledgerLabels) list(obj map[string]any, field string) any {
	xs, _ := obj[field].([]any)
	parts := make([]string, 0, len(xs))
	for _, x := range xs {
		if s, ok := x.(string); ok {
			parts = append(parts, l.label(field, s))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return strings.Join(parts, "、")
}

// text returns a string or number field as text; false when absent or null.
func text(obj map[string]any, field string) (string, bool) {
	switch v := obj[field].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// cell returns a field's text, or nil (an empty cell) when it is absent.
func cell(obj map[string]any, field string) any {
	if v, ok := text(obj, field); ok {
		return v
	}
	return nil
}

// number returns a numeric field as a float64 (a number cell), or nil.
func number(obj map[string]any, field string) any {
	n, ok := obj[field].(json.Number)
	if !ok {
		return nil
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return f
}

// fieldText returns a field's text, "" when it is absent or null.
func fieldText(obj map[string]any, field string) string {
	s, _ := text(obj, field)
	return s
}

// cellText returns a cell value as CSV text: "" for an empty cell.
func cellText(v any) string {
	s, _ := v.(string)
	return s
}

// localCell returns a date-time field as local Asia/Shanghai wall time in
// layout, a malformed one as it is, or nil when it is absent.
func localCell(obj map[string]any, field, layout string) any {
	v, ok := text(obj, field)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return v
	}
	return t.In(calendar.Zone).Format(layout)
}

// excelSerial returns the Excel serial date (1900 date system) showing the
// wall time of t.
func excelSerial(t time.Time) float64 {
	wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	return wall.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24
}

// cellName returns the A1-style name of column col (1-based) in row.
func cellName(col, row int) string {
	name, _ := excelize.CoordinatesToCellName(col, row) // col and row are ≥ 1
	return name
}

// variant picks one of n spellings for a record, the same one every time.
func variant(id string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// typedPhone returns a mobile number as a community worker may type it:
// mostly as it is, else with spaces, dashes, +86 or full-width digits.
func typedPhone(p, id string) string {
	if len(p) != 11 {
		return p
	}
	switch variant(id+"phone", 10) {
	case 0:
		return p[:3] + " " + p[3:7] + " " + p[7:]
	case 1:
		return p[:3] + "-" + p[3:7] + "-" + p[7:]
	case 2:
		return fullWidth(p)
	case 3:
		return "+86 " + p
	case 4:
		return p + " "
	}
	return p
}

// typedDate returns a date (2006-01-02) as a ledger may hold it:
// 2006-01-02, 2006/1/2 or 2006年1月2日.
func typedDate(d, id string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return d
	}
	switch variant(id+"date", 3) {
	case 1:
		return t.Format("2006/1/2")
	case 2:
		return t.Format("2006年1月2日")
	}
	return d
}

// fullWidth rewrites ASCII digits as full-width ones (０-９).
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '０' + (r - '0')
		}
		return r
	}, s)
}
