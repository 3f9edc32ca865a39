-- taskgate.http: outbound HTTP for rules, e.g. to notify a site's WMS when a task is cancelled.
-- The call waits without blocking the gateway (see taskgate.outbound); the gateway's connect
-- and reply timeouts apply.

local outbound = require "taskgate.outbound"

local M = {}

--- http.request{url = "http://host:port/path", method = "POST", body = "...",
--- content_type = "application/json"} -> {status = 200, body = "..."}, or nil and the reason.
function M.request(options)
  if type(options) ~= "table" or type(options.url) ~= "string" then
    error("http.request{url = ..., method = ..., body = ..., content_type = ...}", 2)
  end
  -- A space or a line end in either would write request lines of its own: a header, or a second
  -- request behind the first.
  if options.method ~= nil and (type(options.method) ~= "string" or not options.method:match("^[%w!#$%%&'*+.^_`|~-]+$")) then
    error("http.request: the method must be a name such as POST or GET", 2)
  end
  if options.content_type ~= nil and (type(options.content_type) ~= "string" or options.content_type:find("%c")) then
    error("http.request: the content_type must be one line of text", 2)
  end
  return outbound.send({
    method = options.method or "POST",
    url = options.url,
    body = options.body or "",
    content_type = options.content_type or "application/octet-stream",
  })
end

return M
