/*
name: emergency_response_hours
title:
  zh: 每起突发事件应急出勤人时
  en: Emergency-duty hours per emergency
kind: indicator
schedule:
  normal: "50 2 * * *"
  emergency: "10 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: hours
direction: higher_is_better
min_denominator: 1
inputs: [grid_events, team_records]
definition:
  zh: >-
    统计期内发生的突发事件（事件大类 08：火情、自然灾害、公共卫生事件）的应急出勤人时之和 / 突发事件数，
    按事件所在网格统计，即急时档案的汇总：每起突发事件平均投入多少人时。统计期内：上报时间落在统计期内；
    不予受理、合并的事件不计。出勤人时：工作记录卡中任务为应急值守（emergency_duty）、关联事件为该事件、
    在统计期末（统计期未结束时为计算时刻）前录入的各卡时长之和，无论记卡的是哪支队伍、写在哪个区域。
    没有出勤记录的突发事件计 0 人时、仍计入分母。突发事件数不涉及个人，最小分母为 1。
  en: >-
    Hours of emergency duty for the emergencies (event class 08: fire, natural disaster, public
    health) reported in the period / those emergencies, by the event's grid: the emergency
    archive's (急时档案) summary, how many person-hours an emergency drew. In the period: reported
    in it; rejected and merged events left out. Hours: the hours of the work-record cards of task
    emergency_duty that name the event, recorded before the period's end (the computation, while it
    runs), whichever team wrote them and whatever area they name. An emergency nobody turned out
    for counts with 0 hours. Counts of emergencies are not about persons, so the minimum
    denominator is 1.
  source: >-
    DOMAIN.md §0 point 8 (平急转换: the emergency-archive views), §5.1 team_record (工作记录卡 /
    急时档案 of 突击队 and 扑火队), §6 event classes.
*/
WITH emergencies AS (
  SELECT event_id, grid_code
  FROM grid_events
  WHERE category_major = '08'
    AND status NOT IN ('rejected', 'merged')
    AND reported_at >= $period_start
    AND reported_at < $period_end
    AND reported_at < $as_of
),
duty AS (
  SELECT event_id, sum(hours) AS hours
  FROM team_records
  WHERE task_type = 'emergency_duty'
    AND event_id IS NOT NULL
    AND recorded_at < $as_of
  GROUP BY event_id
)
SELECT e.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(coalesce(sum(d.hours), 0) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM emergencies e
LEFT JOIN duty d USING (event_id)
GROUP BY e.grid_code
