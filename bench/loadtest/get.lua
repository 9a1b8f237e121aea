-- GET /v1/orders as the first caller of the tokens file (the one whose
-- orders the load server seeded). TOKENS names the file.
local f = assert(io.open(os.getenv("TOKENS"), "r"))
local token = f:read("*l")
f:close()
wrk.method = "GET"
wrk.path = "/v1/orders"
wrk.headers["Authorization"] = "Bearer " .. token
