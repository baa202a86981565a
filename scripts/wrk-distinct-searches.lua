-- wrk script: every request searches for a different line of a file of queries, so that neither
-- the response cache nor the query-embedding cache helps: the cost of a search a server has not
-- seen before. Each wrk thread takes every THREADS-th line, from its own offset.
--
--   QUERIES=/tmp/queries.txt THREADS=2 wrk -t2 -c64 -d30s --latency \
--     -s scripts/wrk-distinct-searches.lua http://127.0.0.1:8091
--
-- (docs/benchmarks.md shows how the query file is made.)

local queries = {}
for line in io.lines(os.getenv("QUERIES") or "queries.txt") do
  if #line > 0 then
    queries[#queries + 1] = line
  end
end

local started = 0
function setup(thread)
  thread:set("offset", started)
  started = started + 1
end

local stride = tonumber(os.getenv("THREADS") or "2")
local sent = 0

local function form_encode(text)
  return (text:gsub("[^%w%-%._~ ]", function(c)
    return string.format("%%%02X", string.byte(c))
  end):gsub(" ", "+"))
end

function request()
  local index = ((offset or 0) + sent * stride) % #queries + 1
  sent = sent + 1
  return wrk.format("GET", "/search?q=" .. form_encode(queries[index]))
end
