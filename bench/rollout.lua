-- wrk script: POST /rollout with a new seed each time.
local key = os.getenv("B77_KEY") or ""
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/rollout",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key},
    '{"env":{"seed":' .. n .. '}}')
end
