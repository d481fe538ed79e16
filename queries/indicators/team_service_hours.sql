/*
name: team_service_hours
title:
  zh: 下沉干部和志愿者人均服务时长
  en: Service hours per active sunk cadre or volunteer
kind: indicator
schedule:
  normal: "30 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: hours
direction: higher_is_better
min_denominator: 5
inputs: [team_records]
definition:
  zh: >-
    统计期内下沉干部和志愿者工作记录卡的服务时长之和 / 有记录的人数，即在岗人员的人均服务时长，按
    记录所属的区域（网格、社区或街道）统计。统计期内：工作日期（work_date）落在统计期的日期内
    （Asia/Shanghai），且在统计期末（统计期未结束时为计算时刻）前录入。人数按成员证件号的假名
    （member_id_number_key）去重，没有成员标识的记录不计（见数据质量指标）。同一人在两个区域都有记录
    时在各区域各算一人，汇总到上级时会重复计数。活跃率（有记录的在册人数 / 在册人数）见
    volunteer_activity_rate 和 cadre_activity_rate。
  en: >-
    Hours on the work-record cards (工作记录卡) of sunk cadres and volunteers in the period /
    members with a record: the mean hours per active member, by the record's area (grid,
    community or street). In the period: work_date on one of the period's dates (Asia/Shanghai),
    recorded before the period's end (the computation, while it runs). Members are told apart by
    the pseudonym of their ID number (member_id_number_key); records without it are left out (the
    data-quality indicators count them). A member with records in two areas counts once in each,
    and so more than once in the areas above them. The activity rate (registered members with
    a record / registered members) is volunteer_activity_rate and cadre_activity_rate.
  source: >-
    DOMAIN.md §9, additional policy-specific measures (志愿者/下沉干部活跃率); §5.1 team_record
    (工作记录卡 of 下沉干部 and 志愿者).
*/
WITH records AS (
  SELECT area_code, member_id_number_key AS member, hours
  FROM team_records
  WHERE team_type IN ('sunk_cadre', 'volunteer')
    AND member_id_number_key IS NOT NULL
    AND work_date >= CAST(timezone('Asia/Shanghai', CAST($period_start AS TIMESTAMPTZ)) AS DATE)
    AND work_date < CAST(timezone('Asia/Shanghai', CAST($period_end AS TIMESTAMPTZ)) AS DATE)
    AND recorded_at < $as_of
)
SELECT area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(sum(hours) AS DOUBLE) AS numerator,
       CAST(count(DISTINCT member) AS DOUBLE) AS denominator
FROM records
GROUP BY area_code
