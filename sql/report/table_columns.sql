-- produces: the columns of one lake table (stages add columns, so the report checks before it reads them)
-- grain: one row per column
-- reads: the view named $table (information_schema)
-- params: $table
SELECT column_name
FROM information_schema.columns
WHERE table_name = $table
ORDER BY ordinal_position
