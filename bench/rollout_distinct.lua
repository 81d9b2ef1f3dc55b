-- wrk script: POST /rollout, every request distinct (a new token limit each
-- time, each wrk thread its own range), the same sequence on every run: a
-- first run's requests miss the cache and a second run's, started anew,
-- find what the first stored.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local key = os.getenv("B77_KEY") or ""
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/rollout",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key},
    '{"env":{"seed":' .. n .. '},"policy":{"config":{"max_completion_tokens":' ..
    (id * 1000000 + n) .. '}}}')
end
