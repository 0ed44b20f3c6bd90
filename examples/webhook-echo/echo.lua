-- examples/webhook-echo/echo.lua: answers an HTTP route with what it got.
-- The event is an API Gateway HTTP API v2.0 event; returning a table with
-- statusCode shapes the HTTP response.
function handle(event, ctx)
  return {
    statusCode = 200,
    headers = { ["content-type"] = "application/json" },
    body = spur.json.encode({
      method = event.requestContext.http.method,
      path = event.rawPath,
      query = event.queryStringParameters,
      pathParameters = event.pathParameters,
      headers = event.headers,
      body = event.body,
      isBase64Encoded = event.isBase64Encoded,
    }),
  }
end
