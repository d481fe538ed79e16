// Package calendar is the clock of service-level deadlines: working days and
// working hours on the official calendar of mainland China, with the State
// Council's public holidays and make-up working days (调休). SLAs of
// governance events are stated in these units — "4个工作时" for a 数字城管
// case, "7个工作日" for a 12315 complaint.
//
// # Data
//
// cn_official_days.csv, compiled into the package, lists the exceptional
// days of 2019–2026 (and the last days of 2018 that the 2019 notice joins to
// New Year) as date,kind,holiday: kind off is a day off, kind work a weekend
// day that is a working day. Source: the annual notices of the General
// Office of the State Council on the arrangement of public holidays
// (国务院办公厅关于…部分节假日安排的通知), as compiled by the MIT-licensed
// holiday-cn project, github.com/NateScarlet/holiday-cn. Every other Monday
// to Friday is a working day, every other Saturday and Sunday is not; years
// the data does not cover follow that plain rule (Calendar.Covers tells).
// Each year's notice appears in November: a deployment reads it with Load
// and adds it with Calendar.With, without a new release.
//
// # Time zone
//
// Business time is Asia/Shanghai. Every method takes instants (time.Time in
// any location) and judges them by their Asia/Shanghai date and wall clock;
// nothing depends on the process's local zone (time.Local). The zone comes
// from the system tz database, and falls back to a fixed UTC+8 zone named
// CST when the database is missing; the two agree on every instant since
// 1991-09-15, when China last left daylight saving time, so the fallback
// changes nothing the calendar has data for. The package does not import
// time/tzdata: a binary that must carry the database imports it in main.
//
// # Working time
//
// Working hours are shifts of wall-clock time on working days, by default
// 08:30–12:00 and 13:00–17:30 (DefaultHours, eight hours);
// Calendar.WithHours changes them. AddWorkingHours and WorkingDuration count
// working time and are inverse to each other. AddWorkingDays and WorkingDays
// count working days the way notices do: the starting date is day 0 and
// never counts, day 1 is the next working day, and a deadline keeps t's
// wall-clock time, or the close of business if t was after hours or on a
// day off. CalendarRows gives the same calendar as rows for a SQL table.
//
// The package exports no metrics.
package calendar
