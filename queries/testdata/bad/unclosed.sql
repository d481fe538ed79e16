/*
name: unclosed
SELECT 1
