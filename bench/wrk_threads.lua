-- The threads of a wrk run, each told its 0-based id: shared by the benchmark's wrk scripts
-- (bench/wrk_cycle.lua, bench/create_wrk.lua), which find it beside themselves.
local threads = {}

local function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

return {threads = threads, setup = setup}
