-- wrk script of the tile benchmark; bench/tiles.py runs it through bench/_wrk.py.
--
--   wrk -tT -cC -dD --latency -s bench/tiles_wrk.lua URL -- T PATHS [TOKEN]
--
-- T must equal wrk's -t. PATHS has one tile path per line (/tiles/tickets/14/x/y.mvt); thread
-- k (0-based) of T GETs lines k+1, k+1+T, ... and starts over after the last one. Every
-- response must be a 200. done() prints the same "WRK_RESULT {json}" line as wrk_cycle.lua
-- (graphql_errors counts empty tile bodies: the benchmark's tiles all hold features).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local requests = {}
local pos, stride = 1, 1
local skip_verify = false
non2xx, graphql_errors, responses = 0, 0, 0

function init(args)
   stride = tonumber(args[1]) or 1
   local headers = {["Host"] = wrk.headers["Host"]}
   local token = args[3]
   if token and #token > 0 then
      headers["Authorization"] = "Bearer " .. token
   end
   for line in io.lines(args[2]) do
      if #line > 0 then
         table.insert(requests, wrk.format("GET", line, headers))
      end
   end
   assert(#requests > 0, "no tile paths in " .. args[2])
   pos = id % #requests + 1
   -- wrk 4 calls request() once in the first thread's state only to check it.
   skip_verify = id == 0
end

function request()
   local r = requests[pos]
   if skip_verify then
      skip_verify = false
      return r
   end
   pos = (pos - 1 + stride) % #requests + 1
   return r
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= 200 then
      non2xx = non2xx + 1
   elseif #body == 0 then
      graphql_errors = graphql_errors + 1
   end
end

function done(summary, latency, _)
   local n2, ge, seen = 0, 0, 0
   for _, t in ipairs(threads) do
      n2 = n2 + t:get("non2xx")
      ge = ge + t:get("graphql_errors")
      seen = seen + t:get("responses")
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"non2xx": %d, "graphql_errors": %d, "responses_checked": %d, ' ..
      '"latency_us": {"min": %d, "max": %d, "mean": %.3f, "stdev": %.3f, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p99.9": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      n2, ge, seen,
      latency.min, latency.max, latency.mean, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
