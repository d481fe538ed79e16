/*
name: dq_late_entry
title:
  zh: 补录（录入不及时）率（数据质量）
  en: Records entered late (data quality)
kind: indicator
schedule:
  normal: "20 0 * * *"
  emergency: "10 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 5, alert: 10}
  emergency: {warn: 2, alert: 5}
min_denominator: 0
inputs: [door_visits, team_records]
definition:
  zh: >-
    录入晚于时限的记录数 / 记录数 × 100%，统计走访记录和工作记录卡中最新版本（updated_at）落在统计期
    内（统计期未结束时为计算时刻前）的记录，按记录的网格（工作记录卡按其区域）。走访记录：写入时间
    （updated_at）比走访时间晚 24 小时以上；工作记录卡：录入时间（recorded_at）晚于工作日期次日
    24:00（Asia/Shanghai）。表中没有入库（加载）时间，只能用来源系统的写入时间衡量录入及时性；
    网格事件、警情和工单没有发生时间与录入时间之分，无法衡量。补录多提示走访或工作记录不实。
  en: >-
    Records entered later than the limit / records × 100%, over the door visits and work-record
    cards whose latest version (updated_at) falls in the period (before the computation while it
    runs), by the record's grid (a card by its area). Door visits: written (updated_at) more than
    24 hours after the visit; work-record cards: recorded (recorded_at) after the end of the day
    following the work date (Asia/Shanghai). The tables keep no load time, so the source's write
    time is the only measure of timely entry; grid events, incidents and work orders have no
    occurrence time apart from their entry time, so they cannot be judged. Late entries (补录)
    often point to visits or work that did not happen as recorded.
  source: >-
    DOMAIN.md §9, data-quality rules (run before any indicator) and #10 (visit authenticity);
    §5 common envelope (event_ts vs ingest_ts).
*/
WITH recs AS (
  SELECT grid_code AS code, epoch_us(updated_at) - epoch_us(visited_at) > 86400000000 AS late
  FROM door_visits
  WHERE updated_at >= $period_start AND updated_at < $as_of
  UNION ALL
  SELECT area_code, recorded_at >= timezone('Asia/Shanghai', work_date + INTERVAL 2 DAY)
  FROM team_records
  WHERE updated_at >= $period_start AND updated_at < $as_of
)
SELECT code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE late) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM recs
GROUP BY code
