-- examples/iot-thermostat/thermostat.lua: validate a sensor reading and
-- raise an alert when it is over the threshold.
--
-- The event is an MQTT message (README, "MQTT"): event.topic is
-- "sensors/<room>/temperature" and event.payload the decoded JSON reading,
-- e.g. {"celsius": 31.5}. Returning a table makes a Success record, which
-- the config publishes to alerts/thermostat/Success; raising an error makes
-- a failure record, which goes to the dead-letter queue.

function handle(event, ctx)
  local limit = tonumber(ctx.env.THRESHOLD or "30")
  local room = event.topic:match("^sensors/([^/]+)/temperature$") or "unknown"
  local r = event.payload
  if type(r) ~= "table" or type(r.celsius) ~= "number" then
    error({ errorType = "InvalidReading", errorMessage = "expected {\"celsius\": <number>}" })
  end
  if r.celsius < -50 or r.celsius > 150 then
    error({ errorType = "InvalidReading",
            errorMessage = ("%s: %.1f °C is not a plausible reading"):format(room, r.celsius) })
  end
  local alert = r.celsius > limit
  ctx.log(room, r.celsius, alert and "ALERT" or "ok")
  return { room = room, celsius = r.celsius, alert = alert, threshold = limit }
end
