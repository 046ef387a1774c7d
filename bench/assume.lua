-- wrk script: AssumeRoleWithWebIdentity as an unsigned awsQuery form POST with a fixed body.
-- The body (written by setup.py) is read from the file named by BENCH_BODY, so the token never
-- appears on a command line. The summary line comes from report.lua.
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
local body = f:read("*a"):gsub("%s+$", "")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
