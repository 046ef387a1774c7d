-- wrk script: SigV4 presigned GET GetCallerIdentity (root key test/test, X-Amz-Expires=900).
-- The path and query (written by setup.py) are read from the file named by BENCH_PATH_FILE.
local f = assert(io.open(os.getenv("BENCH_PATH_FILE"), "r"))
local path = f:read("*a"):gsub("%s+$", "")
f:close()
wrk.method = "GET"
wrk.path = path
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
