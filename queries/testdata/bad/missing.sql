/*
name: missing
title: {zh: 缺}
kind: rule
*/
SELECT 1
