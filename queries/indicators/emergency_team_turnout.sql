/*
name: emergency_team_turnout
title:
  zh: 突击队和扑火队应急出勤人数
  en: Shock-team and fire-team members on emergency duty
kind: indicator
emergency_only: true
schedule:
  emergency: "5 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: count
direction: higher_is_better
min_denominator: 0
inputs: [team_records]
definition:
  zh: >-
    统计日内执行应急值守（task_type 为 emergency_duty）的突击队和扑火队队员人数，按记录所属的区域
    （网格、社区或街道）统计。统计日内：工作日期为该日（Asia/Shanghai），且在日末（统计日未结束时为
    计算时刻）前录入。人数按成员证件号的假名去重；没有成员标识的记录各算一人。分母为当日有任何记录
    （含训练、巡逻）的突击队和扑火队队员人数，供看出勤占比。只在急时（应急）模式下计算。
  en: >-
    Shock-team and fire-team members on emergency duty (task_type emergency_duty) on the day, by
    the record's area (grid, community or street). On the day: work_date is the day
    (Asia/Shanghai), recorded before its end (the computation, while it runs). Members are told
    apart by the pseudonym of their ID number; a record without one counts as one member. The
    denominator is the shock-team and fire-team members with any record that day (training and
    patrol included), for the share on duty. Computed in emergency mode only.
  source: >-
    DOMAIN.md §5.1 team_record (工作记录卡 / 急时档案 of 突击队 and 扑火队); §0 point 8 (平急转换: in
    emergency mode the emergency-archive views are enabled).
*/
WITH records AS (
  SELECT area_code, coalesce(member_id_number_key, 'record:' || record_id) AS member, task_type
  FROM team_records
  WHERE team_type IN ('shock_team', 'fire_team')
    AND work_date = CAST(timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ)) AS DATE)
    AND recorded_at < $as_of
)
SELECT area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(DISTINCT member) FILTER (WHERE task_type = 'emergency_duty') AS DOUBLE) AS numerator,
       CAST(count(DISTINCT member) AS DOUBLE) AS denominator
FROM records
GROUP BY area_code
