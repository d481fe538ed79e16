/*
name: good
title: {zh: 测试, en: Test}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid, district]
period: day
unit: percent
direction: higher_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
SELECT grid_code AS area_code, CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) AS DOUBLE) AS numerator, CAST(count(*) AS DOUBLE) AS denominator
FROM grid_events
GROUP BY grid_code;
