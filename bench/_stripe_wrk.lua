-- Posts pre-signed Stripe events from a file ("<Stripe-Signature>\t<body>" per line), each once, in order.
local events = {}
local count = 0
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    count = count + 1
    events[count] = { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) }
  end
end

function request()
  sent = sent + 1
  local event = events[((sent - 1) % count) + 1]
  return wrk.format("POST", "/webhooks/stripe",
    { ["Content-Type"] = "application/json; charset=utf-8", ["Stripe-Signature"] = event[1] }, event[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
