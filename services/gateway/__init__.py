"""The gateway service: the only door into mmx (REST + WebSocket), port 8080.

settings          GatewaySettings (MMX_GATEWAY_*)
app               create_app: routers, error handlers, broadcast readers, lifespan
routes_orders     /v1/orders: place, batch, amend, cancel, cancel-all, read
routes_risk       /v1/risk: limits, utilisation, freeze, unfreeze, edge, simulate
routes_positions  /v1/positions and the WebSocket /v1/stream
routes_console    /v1/console: the key's role, and what only the console reads (console.views)
console           GET /console (the operator console's static page), offline /docs and /redoc
routes_asyncapi   GET /asyncapi and /asyncapi.json: the streams' AsyncAPI document
placing           Pending record first, then PlaceOrder; ?wait=true outcomes
commands          amend / cancel / cancel-all checked against the order state machine
waiters           per-clientOrderId futures resolved from orders.events
stream            WebSocket fan-out with a bounded queue per client
context           the Gateway: the stores, bus, waiters and hub every route is handed
admission, backlog  the in-flight bound and engine backlog that shed new orders (429)
body_limit        413 for a body over `max_body_bytes`
schemas           camelCase request and answer models; schemas_risk for /v1/risk,
                  schemas_positions for /v1/positions; numbers shown as
                  libs/common/display.py says (money 8, bps 2, ratios 4)
terms             a repeated clientOrderId's terms against its first request's (409)
circuits          each router's venue circuit, for /v1/risk and the unfreeze reply
routing, errors   exact-decimal JSON bodies; 4xx answers that say what was wrong
auth              API keys with roles on every /v1 route (401 / 403), no key in a log line
keys              whose key it is: the Redis store and the secret {env}/gateway/api-keys
"""
