-- wrk script of the createTicket benchmark; bench/create_ticket.py runs it.
--
--   wrk -tT -cC -dMAX --latency -s bench/create_wrk.lua URL -- T BODIES TOKEN
--
-- T must equal wrk's -t. BODIES holds one request body per line (a createTicket mutation with
-- its own idempotency key). Each body is sent exactly once: thread k (0-based) of T sends
-- lines k+1, k+1+T, k+1+2T, ... and, once its share is sent, holds its connections idle
-- (delay()) until the last answer is in, then stops its event loop (wrk.thread:stop()).
-- wrk's main thread keeps sleeping until -d, so bench/create_ticket.py interrupts it (SIGINT)
-- as soon as the worker threads have ended; the wall time of the run is measured here, from
-- the first request sent to the last answer received (CLOCK_MONOTONIC through LuaJIT's ffi).
--
-- A response counts as a created ticket when its status is 200 and its body holds
-- `"errors":[]` and a ticket code. done() prints one machine-readable line,
-- "CREATE_WRK_RESULT {json}" (times in microseconds).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } rg_bench_timespec;
int clock_gettime(int clk_id, rg_bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("rg_bench_timespec")
local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;"
   .. package.path
local wrk_threads = require("wrk_threads")
local threads = wrk_threads.threads
setup = wrk_threads.setup

local requests = {}
local nxt = 1
local verifying = false
-- Read back by done() through thread:get(), so global.
share, sent, answered, ok, non2xx, not_created = 0, 0, 0, 0, 0, 0
first_us, last_us = -1, -1
first_bad = ""

function init(args)
   local stride = tonumber(args[1])
   local file, token = args[2], args[3]
   assert(stride and file and token, "usage: -- THREADS BODIES TOKEN")
   local headers = {["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. token}
   local line_no = 0
   for line in io.lines(file) do
      if #line > 0 then
         if line_no % stride == id then
            table.insert(requests, wrk.format("POST", wrk.path, headers, line))
         end
         line_no = line_no + 1
      end
   end
   share = #requests
   assert(share > 0, "no request bodies for thread " .. id .. " in " .. file)
   -- wrk calls request() once in the first thread's state before the run, only to check it
   -- (script_verify_request): that call must not use up a body.
   verifying = id == 0
end

function delay()
   if nxt > share then
      return 3600000 -- share sent: keep this connection idle until the thread stops
   end
   return 0
end

function request()
   if verifying then
      verifying = false
      return requests[1]
   end
   local r = requests[nxt]
   nxt = nxt + 1
   sent = sent + 1
   if first_us < 0 then
      first_us = now_us()
   end
   return r
end

function response(status, headers, body)
   answered = answered + 1
   last_us = now_us()
   local created = status == 200 and string.find(body, '"errors":[]', 1, true) ~= nil
      and string.find(body, '"ticket":{"code":"', 1, true) ~= nil
   if created then
      ok = ok + 1
   else
      if status < 200 or status > 299 then
         non2xx = non2xx + 1
      else
         not_created = not_created + 1
      end
      if first_bad == "" then
         first_bad = string.sub(tostring(status) .. " " .. body, 1, 400)
      end
   end
   if answered >= share then
      wrk.thread:stop()
   end
end

local function json_string(s)
   return '"' .. string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

function done(summary, latency, _)
   local tot = {share = 0, sent = 0, answered = 0, ok = 0, non2xx = 0, not_created = 0}
   local first, last, bad = nil, nil, ""
   for _, t in ipairs(threads) do
      for k, _ in pairs(tot) do
         tot[k] = tot[k] + t:get(k)
      end
      local f, l = t:get("first_us"), t:get("last_us")
      if f >= 0 and (first == nil or f < first) then first = f end
      if l >= 0 and (last == nil or l > last) then last = l end
      if bad == "" then bad = t:get("first_bad") end
   end
   local e = summary.errors
   io.write(string.format(
      'CREATE_WRK_RESULT {"share": %d, "sent": %d, "answered": %d, "created": %d, ' ..
      '"non2xx": %d, "not_created": %d, "wall_us": %d, "wrk_requests": %d, ' ..
      '"wrk_duration_us": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "max": %d, "mean": %.3f, "stdev": %.3f, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p99.9": %d}, "first_bad": %s}\n',
      tot.share, tot.sent, tot.answered, tot.ok, tot.non2xx, tot.not_created,
      (first and last) and (last - first) or 0, summary.requests, summary.duration,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.max, latency.mean, latency.stdev,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), json_string(bad)))
end
