-- admission.lua - wrk script: POSTs a real AdmissionReview (the file named by OG_BENCH_BODY)
-- with Content-Type application/json on keep-alive connections. wrk itself reports
-- "Non-2xx or 3xx responses" when any answer is not a 200.
local path = os.getenv("OG_BENCH_BODY")
local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
