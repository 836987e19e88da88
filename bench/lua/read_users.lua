-- GET /api/v2/users/{id} for a random seeded user. From the environment: BENCH_TOKEN, and
-- the seeded ids' form, BENCH_PATH_PREFIX (the URL-encoded id up to its number) and
-- BENCH_USERS (ids are numbered 0 .. BENCH_USERS-1, 8 digits: bench/seed.py user_id_of).
-- The path is made per request: a Lua table of 1,000,000 paths made wrk's garbage collector
-- pause its thread for ~200 ms at times, which wrk counted in the latency of every request in
-- flight (p99 ~200 ms against a hello-world server).
local token = os.getenv("BENCH_TOKEN")
local prefix = os.getenv("BENCH_PATH_PREFIX")
local users = tonumber(os.getenv("BENCH_USERS"))
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  return wrk.format("GET", prefix .. string.format("%08d", math.random(0, users - 1)))
end
