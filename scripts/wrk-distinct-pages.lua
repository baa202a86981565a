-- wrk script: every request asks for a different paper, cycling through a file of paper ids (one
-- a line: arXiv ids, or internal ids for papers without one), so that each request reads the
-- store rather than one answer the micro-cache keeps. PREFIX picks the route: `/papers/` (the
-- paper page, default) or `/api/papers/` (the JSON lookup). With COOKIE=1 each request carries a
-- cookie that is not a session (`bench=1`): the site keeps no answer for a request with a cookie,
-- so every request is rendered from the store. Without it, the cache (512 answers, 10 s) still
-- serves some of them; compare `paperboy_response_cache_{hits,misses}_total` on /metrics before
-- and after. Each wrk thread takes every THREADS-th line, from its own offset.
--
--   paperboy papers list --limit 1000 --json | python3 -c 'import json, sys
--   for p in json.load(sys.stdin): print(p["arxiv_id"] or p["id"])' > /tmp/ids.txt
--   IDS=/tmp/ids.txt PREFIX=/api/papers/ THREADS=2 wrk -t2 -c32 -d20s --latency \
--     -s scripts/wrk-distinct-pages.lua http://127.0.0.1:8091

local ids = {}
for line in io.lines(os.getenv("IDS") or "ids.txt") do
  if #line > 0 then
    ids[#ids + 1] = line
  end
end

local started = 0
function setup(thread)
  thread:set("offset", started)
  started = started + 1
end

local prefix = os.getenv("PREFIX") or "/papers/"
local stride = tonumber(os.getenv("THREADS") or "2")
local headers = {}
if os.getenv("COOKIE") == "1" then
  headers["Cookie"] = "bench=1"
end
local sent = 0

function request()
  local index = ((offset or 0) + sent * stride) % #ids + 1
  sent = sent + 1
  return wrk.format("GET", prefix .. ids[index], headers)
end
