/*
name: star_slash
schedule: {normal: "*/5 * * * *"}
*/
SELECT 1
