-- wrk script: POST /rollout as a synth-ai optimizer sends it: run and trace
-- ids, env with its split, the policy's model, inference URL, temperature
-- and token limit, a two-section prompt template, ops, record, mode, safety.
-- A new seed each time. B77_LLM: the inference URL.
local key = os.getenv("B77_KEY") or ""
local url = os.getenv("B77_LLM") or ""
local n = 0
request = function()
  n = n + 1
  local body = '{"run_id":"bench-' .. n .. '","trace_correlation_id":"trace-' .. n ..
    '","env":{"env_name":"banking77","seed":' .. n .. ',"config":{"split":"test"}},' ..
    '"policy":{"policy_name":"mipro","config":{"model":"bench","inference_url":"' .. url ..
    '","temperature":0.0,"max_completion_tokens":64,"prompt_template":{"sections":[' ..
    '{"role":"system","content":"You are an expert banking assistant that classifies customer ' ..
    'queries into banking intents. Given a customer message, respond with exactly one intent ' ..
    'label from the provided list using the banking77_classify tool."},' ..
    '{"role":"user","content":"Customer Query: {query}\\n\\nAvailable Intents:\\n{available_intents}' ..
    '\\n\\nClassify this query into one of the above banking intents using the tool call."}]}}},' ..
    '"ops":["agent","env"],"record":{"trajectories":true},"mode":"eval","safety":{"max_time_s":60}}'
  return wrk.format("POST", "/rollout",
    {["Content-Type"] = "application/json", ["X-API-Key"] = key}, body)
end
