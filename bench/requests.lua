-- wrk script: replays distinct pre-signed callbacks, one per line "query<TAB>body".
local requests = {}
local next_index = 0

init = function(args)
  for line in io.lines(args[1]) do
    local query, body = line:match("([^\t]*)\t(.*)")
    requests[#requests + 1] = wrk.format(
      "POST", "/wecom/callback?" .. query, {["Content-Type"] = "text/xml"}, body)
  end
end

request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
