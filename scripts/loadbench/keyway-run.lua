-- wrk script for the Keyway scenarios: POST `{}` to the web service's run URL given on
-- wrk's command line, authenticated with the token in LOADBENCH_TOKEN (kept out of argv).
-- It defines no response() hook, so wrk does the same per-response work as for the plain
-- GET scenarios; scripts/loadbench.sh checks the outcomes through Keyway's /metrics instead.
local token = os.getenv("LOADBENCH_TOKEN")
assert(token and token ~= "", "LOADBENCH_TOKEN is not set")

wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
