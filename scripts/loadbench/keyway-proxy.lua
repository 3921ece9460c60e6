-- wrk script for the proxy-mode scenarios: a plain GET of the proxy URL given on wrk's
-- command line, authenticated with the token in LOADBENCH_TOKEN (kept out of argv), as an
-- SDK pointed at Keyway would send it. No response() hook, as for the other scenarios.
local token = os.getenv("LOADBENCH_TOKEN")
assert(token and token ~= "", "LOADBENCH_TOKEN is not set")

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
