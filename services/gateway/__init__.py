"""The gateway service: the only door into mmx (REST + WebSocket), port 8080.

settings          GatewaySettings (MMX_GATEWAY_*)
app               create_app: routers, error handlers, broadcast readers, lifespan
routes_orders     /v1/orders: place, batch, amend, cancel, cancel-all, read
routes_risk       /v1/risk: limits, utilisation, freeze, unfreeze, edge, simulate
routes_positions  /v1/positions and the WebSocket /v1/stream
placing           Pending record first, then PlaceOrder; ?wait=true outcomes
commands          amend / cancel / cancel-all checked against the order state machine
waiters           per-clientOrderId futures resolved from orders.events
stream            WebSocket fan-out with a bounded queue per client
snapshot          the book (state, positions, open orders, marks) read from the stores
utilisation       how much of each limit the book uses (pure)
marks             the last mark per symbol seen on positions.updates
schemas           camelCase request and answer models; schemas_risk for /v1/risk,
                  schemas_positions for /v1/positions
display           the places each number is shown with (money 8, bps 2, ratios 4)
terms             a repeated clientOrderId's terms against its first request's (409)
circuits          each router's venue circuit, for /v1/risk and the unfreeze reply
routing, errors   exact-decimal JSON bodies; 4xx answers that say what was wrong
auth              API keys with roles on every /v1 route (401 / 403), no key in a log line
keys              whose key it is: the Redis store and the secret {env}/gateway/api-keys
"""
