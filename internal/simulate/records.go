package simulate

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"

	"github.com/yiwang-gov/yiwang/schemas"
)

// The record structs follow the v1 schemas field for field; a nil pointer is
// a JSON null.

type gridEvent struct {
	EventID       string   `json:"event_id"`
	Source        string   `json:"source"`
	CategoryMajor string   `json:"category_major"`
	CategoryMinor *string  `json:"category_minor"`
	Urgency       string   `json:"urgency"`
	Description   *string  `json:"description"`
	Lon           *float64 `json:"lon"`
	Lat           *float64 `json:"lat"`
	GridCode      string   `json:"grid_code"`
	ReporterRole  *string  `json:"reporter_role"`
	BuildingCode  *string  `json:"building_code"`
	HandlerID     *string  `json:"handler_id"`
	Status        string   `json:"status"`
	ReportedAt    string   `json:"reported_at"`
	DispatchedAt  *string  `json:"dispatched_at"`
	HandledAt     *string  `json:"handled_at"`
	ClosedAt      *string  `json:"closed_at"`
	DeadlineAt    *string  `json:"deadline_at"`
	Deferred      *bool    `json:"deferred"`
	ReworkCount   *int     `json:"rework_count"`
	Satisfaction  *string  `json:"satisfaction"`
	UpdatedAt     string   `json:"updated_at"`
}

type doorVisit struct {
	VisitID       string   `json:"visit_id"`
	CampaignID    string   `json:"campaign_id"`
	TargetType    string   `json:"target_type"`
	TargetID      string   `json:"target_id"`
	VisitorRole   string   `json:"visitor_role"`
	VisitorID     *string  `json:"visitor_id"`
	VisitedAt     string   `json:"visited_at"`
	GridCode      string   `json:"grid_code"`
	Outcome       string   `json:"outcome"`
	Lon           *float64 `json:"lon"`
	Lat           *float64 `json:"lat"`
	FieldsUpdated []string `json:"fields_updated"`
	UpdatedAt     string   `json:"updated_at"`
}

type household struct {
	HouseholdID    string   `json:"household_id"`
	GridCode       string   `json:"grid_code"`
	RoomCode       string   `json:"room_code"`
	ResidentType   string   `json:"resident_type"`
	Occupancy      *string  `json:"occupancy"`
	MembersN       int      `json:"members_n"`
	NeedsAttention *bool    `json:"needs_attention"`
	Tags           []string `json:"tags"`
	HeadIDNumber   *string  `json:"head_id_number"`
	HeadPhone      *string  `json:"head_phone"`
	LastVerifiedAt *string  `json:"last_verified_at"`
	UpdatedAt      string   `json:"updated_at"`
}

type store struct {
	StoreID         string   `json:"store_id"`
	USCI            *string  `json:"usci"`
	Signboard       string   `json:"signboard"`
	StoreCategory   string   `json:"store_category"`
	GridCode        string   `json:"grid_code"`
	AreaM2          *float64 `json:"area_m2"`
	StaffN          *int     `json:"staff_n"`
	Features        []string `json:"features"`
	ContactPhone    *string  `json:"contact_phone"`
	LastVisitAt     *string  `json:"last_visit_at"`
	LastFireCheckOn *string  `json:"last_fire_check_on"`
	UpdatedAt       string   `json:"updated_at"`
}

type marketEntity struct {
	USCI          string  `json:"usci"`
	Name          string  `json:"name"`
	EntityType    string  `json:"entity_type"`
	RegStatus     string  `json:"reg_status"`
	EstablishedOn *string `json:"established_on"`
	StatusOn      *string `json:"status_on"` // when it took a status other than active
	IndustryCode  *string `json:"industry_code"`
	GridCode      string  `json:"grid_code"`
	RegAddress    *string `json:"reg_address"`
	AbnormalList  *bool   `json:"abnormal_list"`
	UpdatedAt     string  `json:"updated_at"`
}

type marketInspection struct {
	InspectionID string  `json:"inspection_id"`
	TaskID       string  `json:"task_id"`
	USCI         string  `json:"usci"`
	InspectedAt  string  `json:"inspected_at"`
	Result       string  `json:"result"`
	Dept         *string `json:"dept"`
	GridCode     string  `json:"grid_code"`
	UpdatedAt    string  `json:"updated_at"`
}

type policeIncident struct {
	IncidentID  string  `json:"incident_id"`
	ReceivedAt  string  `json:"received_at"`
	CallType    string  `json:"call_type"`
	CategoryL1  string  `json:"category_l1"`
	CategoryL2  *string `json:"category_l2"`
	IsValid     bool    `json:"is_valid"`
	StationCode string  `json:"station_code"`
	GridCode    string  `json:"grid_code"`
	ArrivedAt   *string `json:"arrived_at"`
	ClosedAt    *string `json:"closed_at"`
	Disposal    *string `json:"disposal"`
	UpdatedAt   string  `json:"updated_at"`
}

type workOrder struct {
	OrderID       string  `json:"order_id"`
	Kind          string  `json:"kind"`
	Category      string  `json:"category"`
	ObjectType    string  `json:"object_type"`
	ObjectID      *string `json:"object_id"`
	GridCode      string  `json:"grid_code"`
	Status        string  `json:"status"`
	CreatedAt     string  `json:"created_at"`
	AssignedAt    *string `json:"assigned_at"`
	ArrivedAt     *string `json:"arrived_at"`
	CompletedAt   *string `json:"completed_at"`
	Urgent        *bool   `json:"urgent"`
	Satisfaction  *int    `json:"satisfaction"`
	Reopened      *bool   `json:"reopened"`
	ReporterPhone *string `json:"reporter_phone"`
	UpdatedAt     string  `json:"updated_at"`
}

type teamRecord struct {
	RecordID       string  `json:"record_id"`
	TeamType       string  `json:"team_type"`
	TeamID         string  `json:"team_id"`
	MemberIDNumber *string `json:"member_id_number"`
	AreaCode       string  `json:"area_code"`
	WorkDate       string  `json:"work_date"`
	Hours          float64 `json:"hours"`
	TaskType       string  `json:"task_type"`
	EventID        *string `json:"event_id"`
	RecordedAt     string  `json:"recorded_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func ptr[T any](v T) *T { return &v }

// choice is one weighted alternative.
type choice[T any] struct {
	v T
	w float64
}

// weighted picks one alternative with probability proportional to its weight.
func weighted[T any](rng *rand.Rand, cs []choice[T]) T {
	total := 0.0
	for _, c := range cs {
		total += c.w
	}
	x := rng.Float64() * total
	for _, c := range cs {
		if x < c.w {
			return c.v
		}
		x -= c.w
	}
	return cs[len(cs)-1].v
}

func oneOf[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// Timestamp layouts: system clocks write microseconds, people enter seconds.
const (
	layoutMicro  = "2006-01-02T15:04:05.000000Z07:00"
	layoutSecond = "2006-01-02T15:04:05Z07:00"
)

// micros formats a microsecond Unix time as RFC 3339 in UTC with six
// fractional digits, so that the strings sort like the instants.
func micros(us int64) string { return time.UnixMicro(us).UTC().Format(layoutMicro) }

// seconds formats a microsecond Unix time truncated to the second.
func seconds(us int64) string {
	return time.UnixMicro(us).UTC().Truncate(time.Second).Format(layoutSecond)
}

// --- personal data ---------------------------------------------------------

// Household-registration address codes (GB/T 2260) for synthetic resident IDs.
// Changchun's statistical development-zone codes (22017x) are not GB/T 2260
// codes and never appear in an ID number.
func localAddressCodes() []string {
	return []string{"220102", "220103", "220104", "220105", "220106", "220112", "220113", "220122", "220182", "220183", "220184"}
}

// Address codes of migrants' registered residence elsewhere in Jilin and in
// neighbouring provinces.
func migrantAddressCodes() []string {
	return []string{"220202", "220281", "220581", "222401", "230102", "230103", "210102", "210202", "150102", "370102", "130102", "410105"}
}

// residentID returns a synthetic 18-character resident ID number (GB 11643):
// address code, birth date, a sequence that is odd for men and even for women,
// and the MOD 11-2 check character.
func residentID(rng *rand.Rand, area6 string, birth time.Time, male bool) string {
	seq := 2*rng.IntN(499) + 1 // 001–997, odd
	if !male {
		seq++ // 002–998, even
	}
	s := fmt.Sprintf("%s%s%03d", area6, birth.Format("20060102"), seq)
	return s + string(schemas.IDCheckChar(s))
}

// birthDate returns a birth date for someone between minAge and maxAge years
// old at now, never after now.
func birthDate(rng *rand.Rand, now time.Time, minAge, maxAge int) time.Time {
	age := minAge + rng.IntN(maxAge-minAge+1)
	y, m, d := now.In(calendar.Zone).Date()
	b := time.Date(y-age, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -rng.IntN(365))
	return b
}

// mobilePrefixes are mainland mobile number segments in use.
func mobilePrefixes() []string {
	return []string{
		"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
		"150", "151", "152", "153", "155", "156", "157", "158", "159", "166",
		"170", "173", "175", "176", "177", "178", "180", "181", "182", "183",
		"184", "185", "186", "187", "188", "189", "191", "193", "195", "198", "199",
	}
}

// mobile returns a synthetic mainland mobile number.
func mobile(rng *rand.Rand) string {
	return fmt.Sprintf("%s%08d", oneOf(rng, mobilePrefixes()), rng.IntN(100000000))
}

// maybePhone returns a mobile number, or nil with probability pNull.
func maybePhone(rng *rand.Rand, pNull float64) *string {
	if rng.Float64() < pNull {
		return nil
	}
	return ptr(mobile(rng))
}

// --- credit codes ----------------------------------------------------------

// usciChars is the GB 32100 character set, which leaves out I, O, S, V and Z.
const usciChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// orgCheckChar returns the GB 11714 check character of an 8-character
// organisation-code body.
func orgCheckChar(body string) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = int(c-'A') + 10
		}
		sum += v * weights[i]
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + r)
	}
}

// makeUSCI returns a unified social credit code (GB 32100) with a right check
// character: department 9 (market supervision), the entity kind digit, the
// registering authority's area code, an organisation code (a legacy numeric
// one before 2016, an "MA" one after) and the check character.
func makeUSCI(rng *rand.Rand, kind byte, area6 string, legacy bool) string {
	var body []byte
	if legacy {
		for i := 0; i < 8; i++ {
			body = append(body, byte('0'+rng.IntN(10)))
		}
	} else {
		body = append(body, 'M', 'A')
		for i := 0; i < 6; i++ {
			body = append(body, usciChars[rng.IntN(len(usciChars))])
		}
	}
	s := "9" + string(kind) + area6 + string(body) + string(orgCheckChar(string(body)))
	return s + string(schemas.USCICheckChar(s))
}

// wrongCheck returns code with its last character replaced by a different
// character of the set, so that its check fails.
func wrongCheck(rng *rand.Rand, code string) string {
	good := code[len(code)-1]
	for {
		c := usciChars[rng.IntN(len(usciChars))]
		if c != good {
			return code[:len(code)-1] + string(c)
		}
	}
}

// --- names and categories --------------------------------------------------

func firmStems() []string {
	return []string{"华信", "瑞祥", "金诺", "博远", "鑫达", "恒泰", "宏图", "聚能", "启明", "星辰",
		"吉光", "润泽", "丰源", "天成", "盛达", "嘉禾", "百川", "致远", "北辰", "鼎新"}
}

func surnames() []string {
	return []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "孙", "马", "朱", "胡", "郭", "于", "高", "林"}
}

type storeKind struct {
	category string
	weight   float64
	names    []string
	maxArea  float64
	maxStaff int
	industry string
}

// storeKinds are the "十小" categories with signboard patterns (%s: a stem or
// a surname), floor-area limits below the category's "small" threshold and a
// GB/T 4754 industry section.
func storeKinds() []storeKind {
	return []storeKind{
		{"catering", 30, []string{"%s记饺子馆", "%s家麻辣烫", "%s记烧烤", "%s氏面馆", "%s家快餐"}, 150, 12, "H62"},
		{"shop", 30, []string{"%s便利店", "%s超市", "%s五金建材", "%s水果店", "%s烟酒"}, 280, 8, "F52"},
		{"beauty_bath", 10, []string{"%s美发", "%s美容院", "%s洗浴"}, 180, 10, "O80"},
		{"clinic_care", 6, []string{"%s诊所", "%s大药房", "%s养老院"}, 250, 15, "Q84"},
		{"school_training", 6, []string{"%s培训学校", "%s托育中心", "%s书画班"}, 250, 15, "P83"},
		{"hotel", 5, []string{"%s快捷宾馆", "%s旅店"}, 600, 10, "H61"},
		{"workshop", 6, []string{"%s汽修", "%s门窗加工", "%s印刷"}, 300, 30, "C33"},
		{"entertainment", 3, []string{"%sKTV", "%s棋牌室"}, 190, 10, "R90"},
		{"internet_cafe", 2, []string{"%s网咖"}, 190, 6, "I64"},
		{"hazardous_storage", 2, []string{"%s液化气站", "%s仓储"}, 95, 6, "G59"},
	}
}

// storeFeatures are the non-personal store tags of the 敲门 ledger.
func storeFeatures() []string {
	return []string{"gas_use", "open_flame", "night_business", "crowded", "ev_indoor_charging",
		"extinguisher_missing", "exit_blocked", "three_in_one", "licence_expiring"}
}

// householdTags are the household tags the ledger may share. Sensitive tags
// (综治, health, 特定身份) stay in the source system; only needs_attention
// reflects them.
func householdTags() []string {
	return []string{"party_member", "volunteer", "three_heads", "talent_medical", "talent_electrician",
		"talent_psych", "rental", "mixed_use", "ev_owner", "pet_owner"}
}

// eventCategory is one minor class of grid events.
type eventCategory struct {
	major, minor, name string
	weight             float64
	urgent             bool // always urgent
	heating            bool // only in the heating season
}

// eventCategories is the demo's event classification: 数字城管-style classes
// plus the social-governance classes of DOMAIN.md §6. The two-digit codes are
// the project's own.
func eventCategories() []eventCategory {
	return []eventCategory{
		{"01", "01", "暴露垃圾", 8, false, false},
		{"01", "02", "道路不洁", 5, false, false},
		{"01", "03", "路面积水", 2, false, false},
		{"01", "04", "乱堆物料", 5, false, false},
		{"02", "01", "占道经营", 6, false, false},
		{"02", "02", "乱停乱放", 6, false, false},
		{"02", "03", "流动摊贩", 3, false, false},
		{"03", "01", "违规施工", 2, false, false},
		{"03", "02", "私搭乱建", 2, false, false},
		{"04", "01", "邻里纠纷", 5, false, false},
		{"04", "02", "家庭纠纷", 3, false, false},
		{"04", "03", "物业纠纷", 4, false, false},
		{"04", "04", "劳资纠纷", 2, false, false},
		{"05", "01", "消防通道堵塞", 4, false, false},
		{"05", "02", "电动车违规充电", 4, false, false},
		{"05", "03", "燃气隐患", 2, false, false},
		{"05", "04", "房屋安全隐患", 1, false, false},
		{"06", "01", "供暖不热", 6, false, true},
		{"06", "02", "停水停电", 2, false, false},
		{"06", "03", "特殊群体帮扶", 3, false, false},
		{"06", "04", "政策咨询", 3, false, false},
		{"07", "01", "可疑人员", 1, false, false},
		{"07", "02", "噪音扰民", 3, false, false},
		{"08", "01", "火情", 0.3, true, false},
		{"08", "02", "自然灾害", 0.1, true, false},
		{"08", "03", "公共卫生事件", 0.1, true, false},
	}
}

// heatingSeason reports whether t falls in Changchun's heating season
// (about 20 October to 10 April).
func heatingSeason(t time.Time) bool {
	lt := t.In(calendar.Zone)
	md := int(lt.Month())*100 + lt.Day()
	return md >= 1020 || md <= 410
}

type policeCategory struct {
	l1     string
	l2     []string
	weight float64
}

func policeCategories() []policeCategory {
	return []policeCategory{
		{"traffic", []string{"交通事故", "交通堵塞", "违法停车"}, 30},
		{"dispute", []string{"邻里纠纷", "家庭纠纷", "经济纠纷", "劳资纠纷"}, 20},
		{"public_order", []string{"殴打他人", "噪音扰民", "寻衅滋事"}, 8},
		{"criminal", []string{"盗窃", "诈骗", "电动车被盗"}, 6},
		{"assistance", []string{"老人走失", "儿童走失", "开锁求助", "醉酒求助"}, 20},
		{"fire_disaster", []string{"火灾", "燃气泄漏", "水管爆裂"}, 3},
		{"other", []string{"咨询", "其他"}, 13},
	}
}
