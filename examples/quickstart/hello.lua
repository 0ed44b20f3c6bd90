-- examples/quickstart/hello.lua: the smallest useful handler.
-- Top-level code runs once per execution context (INIT, a cold start);
-- `invocations` then survives from one warm invocation to the next.
local invocations = 0

-- Invoked directly, the event is the JSON payload; through an HTTP route
-- it is an API Gateway v2.0 event whose body holds the payload.
local function input(event)
  if type(event.body) == "string" then
    local ok, decoded = pcall(spur.json.decode, event.body)
    if ok and type(decoded) == "table" then return decoded end
  end
  return event
end

function handle(event, ctx)
  invocations = invocations + 1
  local name = input(event).name or "world"
  ctx.log("greeting", name)
  return {
    message = (ctx.env.GREETING or "hello") .. ", " .. name .. "!",
    invocations = invocations,       -- 1 on a cold start, then 2, 3, ...
    request_id = ctx.request_id,
  }
end
