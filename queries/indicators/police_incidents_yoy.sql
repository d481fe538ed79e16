/*
name: police_incidents_yoy
title:
  zh: 警情同比
  en: Valid police incidents, change on the same month last year
kind: indicator
schedule:
  normal: "15 0 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 30, alert: 50}
min_denominator: 5
lookback_months: 12
inputs: [police_incidents]
definition:
  zh: >-
    同比 = (本月有效警情数 − 去年同月有效警情数) / 去年同月有效警情数 × 100%，按警情发生地网格统计；
    分子为增减数（可为负），分母为去年同月数，汇总时分别相加。月份按 Asia/Shanghai 的自然月。统计期
    未结束时，本月计到计算时刻，去年同月只计从月初起同样长的一段时间，使两者可比；统计期结束后比较
    两个整月。去年同月有效警情少于 5 起的格不公布。注意：春节在一、二月间移动，DOMAIN.md 建议按农历
    对齐春节窗口，这里按公历月比较，一、二月的同比须结合春节所在月份解读。
  en: >-
    Year on year = (valid incidents this month − valid incidents in the same month last year) /
    the latter × 100%, by the incident's grid; the numerator is the change (it may be negative),
    the denominator last year's count, each summed when rolled up. Months are calendar months of
    Asia/Shanghai. While the month runs, it counts up to the computation and last year's month
    only as long a stretch from its start, so that the two compare; once the month is over, two
    whole months are compared. Cells with fewer than 5 valid incidents last year are not
    published. The Spring Festival moves between January and February; DOMAIN.md advises aligning
    its window by the lunar calendar, but this compares calendar months, so read January and
    February with the festival's month in mind.
  source: >-
    DOMAIN.md §9 #16 (警情同比 YoY = (n_P − n_{P−12}) / n_{P−12}).
*/
WITH prev AS (
  SELECT timezone('Asia/Shanghai',
                  timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ)) - INTERVAL 12 MONTH) AS since,
         timezone('Asia/Shanghai',
                  timezone('Asia/Shanghai', CAST($period_end AS TIMESTAMPTZ)) - INTERVAL 12 MONTH) AS until
),
-- Last year's window: the whole month once this month is over, else as long as this month's so far.
win AS (
  SELECT since,
         CASE WHEN CAST($as_of AS TIMESTAMPTZ) >= CAST($period_end AS TIMESTAMPTZ) THEN until
              ELSE least(until, since + to_microseconds(epoch_us(CAST($as_of AS TIMESTAMPTZ))
                                                       - epoch_us(CAST($period_start AS TIMESTAMPTZ)))) END AS until
  FROM prev
),
counts AS (
  SELECT i.grid_code,
         count(*) FILTER (WHERE i.received_at >= $period_start) AS n_now,
         count(*) FILTER (WHERE i.received_at < w.until) AS n_prev
  FROM police_incidents i, win w
  WHERE i.is_valid
    AND ((i.received_at >= w.since AND i.received_at < w.until)
         OR (i.received_at >= $period_start AND i.received_at < $as_of))
  GROUP BY i.grid_code
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(n_now - n_prev AS DOUBLE) AS numerator,
       CAST(n_prev AS DOUBLE) AS denominator
FROM counts
