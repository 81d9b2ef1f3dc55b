-- wrk script: POST a chat completion of the task app's size to the upstream.
local body = io.open(os.getenv("B77_UPSTREAM_BODY")):read("*a")
request = function()
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"}, body)
end
