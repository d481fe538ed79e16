/*
name: volunteer_activity_rate
title:
  zh: 蒲公英志愿者活跃率
  en: Active share of 蒲公英 volunteers
kind: indicator
schedule:
  normal: "40 2 * * *"
grain: [community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 35, alert: 20}
min_denominator: 5
inputs: [team_members, team_records]
definition:
  zh: >-
    统计期内有工作记录卡的在册人数 / 在册人数 × 100%，对象为蒲公英志愿服务队的志愿者，按名册登记的联系社区统计。
    在册：名册中入队日期不晚于统计期末、未离队或离队日期不早于统计期初的成员。有记录：同一人（成员
    证件号的假名相同）在统计期内（工作日期落在统计期的日期内，Asia/Shanghai）有同类队伍的工作记录
    卡，且在统计期末（统计期未结束时为计算时刻）前录入；记录写在哪个区域不论。名册中没有证件号的成员
    无法与记录卡对应，不计入分子和分母。同一人在一个社区的两支队伍中只算一人。
  en: >-
    Registered members of the 蒲公英 volunteer teams' volunteers with a work-record card in the period / registered members,
    by the community the roster assigns them to. Registered: joined on or before the period's
    last day, and not left or left on or after its first day. With a card: the same person (the
    pseudonym of the ID number) has a card of the same team type with a work_date on one of the
    period's dates (Asia/Shanghai), recorded before the period's end (the computation, while it
    runs), in whatever area the card names. Members without an ID number on the roster cannot be
    matched to cards and are left out of both counts. A person in two teams of one community
    counts once.
  source: >-
    DOMAIN.md §9, additional policy-specific measures (志愿者/下沉干部活跃率 = members with ≥ 1
    work-record card entry in P / registered members); §5.1 team_record (工作记录卡).
*/
WITH bounds AS (
  SELECT CAST(timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ)) AS DATE) AS first_day,
         CAST(timezone('Asia/Shanghai', CAST($period_end AS TIMESTAMPTZ)) AS DATE) AS end_day
),
registered AS (
  SELECT DISTINCT m.area_code, m.member_id_number_key AS member
  FROM team_members m, bounds b
  WHERE m.team_type = 'volunteer'
    AND m.area_code IS NOT NULL
    AND m.member_id_number_key IS NOT NULL
    AND m.joined_on < b.end_day
    AND (m.left_on IS NULL OR m.left_on >= b.first_day)
),
active AS (
  SELECT DISTINCT r.member_id_number_key AS member
  FROM team_records r, bounds b
  WHERE r.team_type = 'volunteer'
    AND r.member_id_number_key IS NOT NULL
    AND r.work_date >= b.first_day
    AND r.work_date < b.end_day
    AND r.recorded_at < $as_of
)
SELECT g.area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(a.member) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM registered g
LEFT JOIN active a ON a.member = g.member
GROUP BY g.area_code
