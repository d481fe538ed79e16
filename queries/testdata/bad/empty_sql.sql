/*
name: empty_sql
title: {zh: 空, en: Empty}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid]
period: day
unit: count
direction: lower_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
-- nothing here
