-- examples/quickstart/hello.lua: the smallest useful handler.
-- Top-level code runs once per execution context (INIT, a cold start);
-- `invocations` then survives from one warm invocation to the next.
local invocations = 0

function handle(event, ctx)
  invocations = invocations + 1
  local name = event.name or "world"
  ctx.log("greeting", name)
  return {
    message = (ctx.env.GREETING or "hello") .. ", " .. name .. "!",
    invocations = invocations,       -- 1 on a cold start, then 2, 3, ...
    request_id = ctx.request_id,
  }
end
