/*
name: police_incidents_mom
title:
  zh: 警情环比
  en: Valid police incidents, change on the previous month
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
lookback_months: 1
inputs: [police_incidents]
definition:
  zh: >-
    环比 = (本月有效警情数 − 上月有效警情数) / 上月有效警情数 × 100%，按警情发生地网格统计；分子为
    增减数（可为负），分母为上月数，汇总时分别相加。月份按 Asia/Shanghai 的自然月。统计期未结束时，
    本月计到计算时刻，上月只计从月初起同样长的一段时间（不超过上月末），使两者可比；统计期结束后
    比较两个整月。上月有效警情少于 5 起的格不公布。
  en: >-
    Month on month = (valid incidents this month − valid incidents last month) / valid incidents
    last month × 100%, by the incident's grid; the numerator is the change (it may be negative),
    the denominator last month's count, each summed when rolled up. Months are calendar months of
    Asia/Shanghai. While the month runs, it counts up to the computation and last month only as
    long a stretch from its start (at most to its end), so that the two compare; once the month
    is over, two whole months are compared. Cells with fewer than 5 valid incidents last month
    are not published.
  source: >-
    DOMAIN.md §9 #16 (警情环比 MoM = (n_P − n_{P−1}) / n_{P−1}).
*/
WITH prev AS (
  SELECT timezone('Asia/Shanghai',
                  timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ)) - INTERVAL 1 MONTH) AS since,
         CAST($period_start AS TIMESTAMPTZ) AS until
),
-- Last month's window: whole once this month is over, else as long as this month's so far.
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
