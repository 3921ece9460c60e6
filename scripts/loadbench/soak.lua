-- wrk script for the soak: POST `{}` to the run URLs in LOADBENCH_SOAK_PATHS (space-separated),
-- in turn, each connection pacing itself so that all together send about LOADBENCH_SOAK_RATE
-- calls per second. Authenticated with the token in LOADBENCH_TOKEN.
local token = os.getenv("LOADBENCH_TOKEN")
assert(token and token ~= "", "LOADBENCH_TOKEN is not set")
local paths = {}
for p in string.gmatch(os.getenv("LOADBENCH_SOAK_PATHS") or "", "%S+") do
  table.insert(paths, p)
end
assert(#paths > 0, "LOADBENCH_SOAK_PATHS is empty")
local rate = tonumber(os.getenv("LOADBENCH_SOAK_RATE"))
local connections = tonumber(os.getenv("LOADBENCH_CONNECTIONS_NOW"))
assert(rate and rate > 0 and connections and connections > 0, "rate and connections needed")
local pause = 1000 * connections / rate
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
local n = 0

function setup(thread)
  n = n + 1
  thread:set("offset", n)
end

local i = 0
function request()
  i = i + 1
  local path = paths[((i + (offset or 0)) % #paths) + 1]
  return wrk.format("POST", path, headers, "{}")
end

function delay()
  return pause
end
