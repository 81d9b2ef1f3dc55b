-- wrk script: POST /rollouts (the newest contract), a new rollout_id each
-- time (each wrk thread its own range), submission_mode from B77_MODE
-- ("sync" or "async"), the older contract's POST /rollout when B77_MODE is
-- "legacy": the same seeds either way.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local key = os.getenv("B77_KEY") or ""
local mode = os.getenv("B77_MODE") or "sync"
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = key}
  if mode == "legacy" then
    return wrk.format("POST", "/rollout", headers, '{"env":{"seed":' .. n .. '}}')
  end
  return wrk.format("POST", "/rollouts", headers,
    '{"rollout_id":"b' .. id .. '-' .. n .. '","env":{"seed":' .. n ..
    '},"submission_mode":"' .. mode .. '"}')
end
