/*
name: statements
title: {zh: 语句, en: Statements}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid]
period: day
unit: count
direction: lower_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
SELECT grid_code AS area_code, $period_start AS period_start, $start AS numerator,
       ? AS denominator, ';' AS "a;b" -- ; in a comment
FROM grid_events;
DELETE FROM grid_events;
