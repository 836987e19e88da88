-- GET /api/v2/users/{id} for a random seeded user. BENCH_TOKEN and BENCH_IDS (a file of
-- URL-encoded paths, one a line) come from the environment.
local token = os.getenv("BENCH_TOKEN")
local paths = {}
for line in io.lines(os.getenv("BENCH_IDS")) do paths[#paths + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
