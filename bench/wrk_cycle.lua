-- wrk script of the RedGrid benchmark; bench/_wrk.py runs it (see bench/README.md).
--
--   wrk -tT -cC -dD --latency -s bench/wrk_cycle.lua URL -- T BODIES [TOKEN]   POST the bodies
--   wrk -tT -cC -dD --latency -s bench/wrk_cycle.lua URL -- T PATHS [TOKEN]    GET the paths
--   wrk -tT -cC -dD --latency -s bench/wrk_cycle.lua URL -- T                  GET URL
--
-- T must equal wrk's -t. BODIES is a file with one request body per line (a GraphQL query with
-- one point's variables, in the order of the benchmark's point list); a file whose lines start
-- with "/" holds paths to GET instead (tiles: /tiles/tickets/14/x/y.mvt). Requests are built once,
-- in init(); thread k (0-based) of T sends lines k+1, k+1+T, k+1+2T, ... and starts over after
-- the last one, so that with T = 1 the requests follow the point list exactly, and with T > 1
-- the threads together cycle through the same points.
--
-- Every response is checked: status 2xx; for POST no "errors" key in the JSON body, for GET
-- paths a non-empty body (counted under graphql_errors: the benchmark's tiles all hold features).
-- done() prints one machine-readable line, "WRK_RESULT {json}" (latencies in microseconds).

package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;"
   .. package.path
local wrk_threads = require("wrk_threads")
local threads = wrk_threads.threads
setup = wrk_threads.setup

local requests = {}
local pos, stride = 1, 1
local skip_verify = false
local graphql, paths = false, false
non2xx, graphql_errors, responses = 0, 0, 0

function init(args)
   -- args[0] is the URL; the arguments after "--" follow.
   stride = tonumber(args[1]) or 1
   local file = args[2]
   local headers = {["Host"] = wrk.headers["Host"]}
   local token = args[3]
   if token and #token > 0 then
      headers["Authorization"] = "Bearer " .. token
   end
   if file then
      for line in io.lines(file) do
         if string.sub(line, 1, 1) == "/" then
            paths = true
            table.insert(requests, wrk.format("GET", line, headers))
         elseif #line > 0 then
            graphql = true
            headers["Content-Type"] = "application/json"
            table.insert(requests, wrk.format("POST", wrk.path, headers, line))
         end
      end
      assert(#requests > 0, "no request bodies or paths in " .. file)
   else
      table.insert(requests, wrk.format("GET", wrk.path, headers))
   end
   pos = id % #requests + 1
   -- wrk 4 calls request() once in the first thread's state before the run, only to check it
   -- (script_verify_request): that call must not use up the first point.
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
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
   if graphql and string.find(body, '"errors"', 1, true) then
      graphql_errors = graphql_errors + 1
   elseif paths and #body == 0 then
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
