"""The OpenAPI 3 document of the HTTP API, served at GET /api/v1/openapi.json.

Request bodies come from the pydantic models in ``schemas.py``; responses are described here. A
test checks that every registered route is documented and every documented one is registered.
"""

from __future__ import annotations

from typing import Any

from trading_engine.domain.orders import RejectReason
from trading_engine.presentation.http.schemas import CircuitBreakerAction, CreateOrder, StartStrategy, StopStrategy

DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "Exact decimal, as a string."}
NULLABLE_DECIMAL = {"oneOf": [DECIMAL, {"type": "null"}]}
TIMESTAMP = {"type": "string", "format": "date-time"}
NULLABLE_STRING = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


COMMON_ERRORS = {"500": _error("Unexpected failure; the body has a request_id to quote.")}
WRITE_ERRORS = {
    "400": _error("Malformed JSON or a body that is not a JSON object (code invalid_json)."),
    "401": _error("Missing or wrong bearer token (mutating requests need Authorization: Bearer <token>)."),
    "413": _error("Body larger than http.max_body_bytes."),
    "415": _error("Body not sent as application/json."),
    "422": _error("A field is missing, unknown, of the wrong type or out of range (`field` names it)."),
    "503": _error("The database cannot record the change right now; nothing was stored."),
}

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "client_order_id": NULLABLE_STRING,
        "symbol": {"type": "string"},
        "side": {"enum": ["buy", "sell"]},
        "type": {"enum": ["market", "limit"]},
        "quantity": DECIMAL,
        "limit_price": NULLABLE_DECIMAL,
        "time_in_force": {"enum": ["gtc", "ioc"]},
        "strategy_id": NULLABLE_STRING,
        "status": {"enum": ["new", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"]},
        "filled_quantity": DECIMAL,
        "remaining_quantity": DECIMAL,
        "filled_notional": DECIMAL,
        "average_fill_price": NULLABLE_DECIMAL,
        "fees": DECIMAL,
        "reject_reason": {"oneOf": [{"enum": [r.value for r in RejectReason]}, {"type": "null"}]},
        "reject_message": NULLABLE_STRING,
        "cancel_reason": NULLABLE_STRING,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
    "required": ["order_id", "symbol", "side", "type", "quantity", "status", "created_at"],
}

POSITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "symbol": {"type": "string"},
        "currency": {"type": "string", "description": "Quote currency the amounts are in."},
        "quantity": DECIMAL,
        "average_entry_price": DECIMAL,
        "mark": NULLABLE_DECIMAL,
        "market_value": DECIMAL,
        "unrealized_pnl": DECIMAL,
        "realized_pnl": DECIMAL,
        "fees_paid": DECIMAL,
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "snake_case code; a reject reason for rejected orders."},
                    "message": {"type": "string", "description": "What was wrong and what is allowed."},
                    "request_id": {"type": "string"},
                    "field": {"type": "string", "description": "The input field at fault, when one is."},
                    "order_id": {"type": "string", "description": "For a rejected order: its id."},
                    "order": _ref("Order"),
                },
                "required": ["code", "message", "request_id"],
            }
        },
        "required": ["error"],
    },
    "Order": ORDER_SCHEMA,
    "Fill": {
        "type": "object",
        "properties": {
            "fill_id": {"type": "string"},
            "order_id": {"type": "string"},
            "symbol": {"type": "string"},
            "side": {"enum": ["buy", "sell"]},
            "quantity": DECIMAL,
            "price": DECIMAL,
            "fee": DECIMAL,
            "fee_currency": {"type": "string"},
            "timestamp": TIMESTAMP,
            "strategy_id": NULLABLE_STRING,
        },
    },
    "Position": POSITION_SCHEMA,
    "CircuitBreaker": {
        "type": "object",
        "properties": {
            "is_open": {"type": "boolean"},
            "reason": NULLABLE_STRING,
            "tripped_at": {"oneOf": [TIMESTAMP, {"type": "null"}]},
            "reset_at": {"oneOf": [TIMESTAMP, {"type": "null"}]},
        },
    },
    "Price": {
        "type": "object",
        "properties": {
            "symbol": {"type": "string"},
            "price": NULLABLE_DECIMAL,
            "timestamp": {"oneOf": [TIMESTAMP, {"type": "null"}]},
            "age_seconds": {"type": ["number", "null"]},
            "fresh": {"type": "boolean"},
        },
    },
}

ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
STRATEGY_ID = {"name": "strategy_id", "in": "path", "required": True, "schema": {"type": "string"}}
STRATEGY_FILTER = {
    "name": "strategy_id", "in": "query", "schema": {"type": "string"},
    "description": "Only what this strategy instance traded (its own position and P&L).",
}
INSTANCE = {"type": "object", "description": "A strategy instance: strategy_id, strategy, symbol, params, "
            "status (running, stopped, error), reason, position, trades, limit_hits, created_at, updated_at."}


def _body(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operations() -> dict[str, dict[str, Any]]:
    reject_codes = ", ".join(f"`{r.value}`" for r in RejectReason)
    return {
        "/api/v1/health": {
            "get": {
                "summary": "Liveness and identity of this instance",
                "responses": {"200": _json({"type": "object"}, "Healthy, with service, instance, version, environment, timestamp.")},
            }
        },
        "/api/v1/ready": {
            "get": {
                "summary": "Readiness: every registered check (database, market_data, ...)",
                "responses": {
                    "200": _json({"type": "object"}, "Every check is ok."),
                    "503": _json({"type": "object"}, "At least one check failed or timed out."),
                },
            }
        },
        "/api/v1/metrics": {
            "get": {
                "summary": "Prometheus exposition (text 0.0.4; OpenMetrics when Accept asks)",
                "responses": {
                    "200": {"description": "Metrics.", "content": {"text/plain": {}}},
                    "401": _error("metrics.bearer_token is set and the request lacks it."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "The same exposition on Prometheus's default path",
                "responses": {
                    "200": {"description": "Metrics.", "content": {"text/plain": {}}},
                    "401": _error("metrics.bearer_token is set and the request lacks it."),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")}}
        },
        "/api/v1/orders": {
            "post": {
                "summary": "Place an order",
                "description": (
                    "Answered once the order, its fills, position and cash are durable. A market order "
                    "comes back filled. Pre-trade risk rejections are stored with status `rejected` "
                    f"and answered 422 with the reason as the error code: {reject_codes}."
                ),
                "security": [{"bearer": []}],
                "requestBody": _body(CreateOrder),
                "responses": {
                    "201": _json(_ref("Order"), "Created."),
                    "200": _json(_ref("Order"), "An order with this client_order_id and the same fields already exists."),
                    "409": _error("client_order_id already names an order with different fields."),
                    **WRITE_ERRORS,
                    "422": _error("Invalid field, or rejected by pre-trade risk (error.code is the reason, error.order the stored order)."),
                    **COMMON_ERRORS,
                },
            },
            "get": {
                "summary": "List orders, newest first",
                "parameters": [
                    {"name": "status", "in": "query", "schema": ORDER_SCHEMA["properties"]["status"]},
                    {"name": "symbol", "in": "query", "schema": {"type": "string"}},
                    {"name": "strategy_id", "in": "query", "schema": {"type": "string"},
                     "description": "Only the orders of this strategy instance."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page."},
                ],
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"orders": {"type": "array", "items": _ref("Order")},
                                                          "next_cursor": NULLABLE_STRING}},
                        "A page of orders; next_cursor is null on the last page.",
                    ),
                    "400": _error("A query parameter is unknown or invalid (a malformed cursor included)."),
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/orders/{order_id}": {
            "get": {
                "summary": "One order",
                "parameters": [ORDER_ID],
                "responses": {"200": _json(_ref("Order"), "The order."), "404": _error("No such order."), **COMMON_ERRORS},
            },
            "delete": {
                "summary": "Cancel a resting order",
                "security": [{"bearer": []}],
                "parameters": [ORDER_ID],
                "responses": {
                    "200": _json(_ref("Order"), "Cancelled."),
                    "401": WRITE_ERRORS["401"],
                    "404": _error("No such order."),
                    "409": _error("The order is no longer open (filled, cancelled, rejected or expired)."),
                    "503": WRITE_ERRORS["503"],
                    **COMMON_ERRORS,
                },
            },
        },
        "/api/v1/orders/{order_id}/fills": {
            "get": {
                "summary": "The fills of one order, oldest first",
                "parameters": [ORDER_ID],
                "responses": {
                    "200": _json({"type": "object", "properties": {"fills": {"type": "array", "items": _ref("Fill")}}}, "Fills."),
                    "404": _error("No such order."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/positions/current": {
            "get": {
                "summary": "Open positions at the current marks",
                "parameters": [STRATEGY_FILTER],
                "responses": {
                    "200": _json({"type": "object", "properties": {"positions": {"type": "array", "items": _ref("Position")}}}, "Positions."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/portfolio/pnl": {
            "get": {
                "summary": "Cash, equity, exposure and P&L in the reporting currency",
                "parameters": [STRATEGY_FILTER],
                "responses": {"200": _json({"type": "object"}, "The account's valuation."), **COMMON_ERRORS},
            }
        },
        "/api/v1/risk/status": {
            "get": {
                "summary": "Risk limits, their utilisation, the circuit breaker and market data freshness",
                "responses": {"200": _json({"type": "object"}, "Risk status."), **COMMON_ERRORS},
            }
        },
        "/api/v1/risk/circuit-breaker": {
            "post": {
                "summary": "Trip or reset the circuit breaker",
                "description": "Tripping rejects every new order (circuit_breaker_open) and cancels resting orders.",
                "security": [{"bearer": []}],
                "requestBody": _body(CircuitBreakerAction),
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"changed": {"type": "boolean"},
                                                          "circuit_breaker": _ref("CircuitBreaker"),
                                                          "cancelled_orders": {"type": "array", "items": {"type": "string"}}}},
                        "The breaker after the action.",
                    ),
                    **WRITE_ERRORS,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/market/prices": {
            "get": {
                "summary": "Latest price of every instrument",
                "responses": {"200": _json({"type": "object", "properties": {"prices": {"type": "array", "items": _ref("Price")}}}, "Prices."), **COMMON_ERRORS},
            }
        },
        "/api/v1/strategies/available": {
            "get": {
                "summary": "Strategies that can be started, with their parameter schemas and defaults",
                "responses": {"200": _json({"type": "object"}, "Strategies."), **COMMON_ERRORS},
            }
        },
        "/api/v1/strategies/start": {
            "post": {
                "summary": "Start a strategy instance on one symbol",
                "description": "Every order the instance places goes through pre-trade risk and its own "
                               "limits (max_position_notional, max_orders_per_second, max_open_orders).",
                "security": [{"bearer": []}],
                "requestBody": _body(StartStrategy),
                "responses": {
                    "201": _json(INSTANCE, "Started; strategy_id names the instance."),
                    "409": _error("strategies.max_instances instances are running already."),
                    **WRITE_ERRORS,
                    "422": _error("Unknown strategy or symbol, or a bad parameter (`field` is params.<name>)."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/strategies/stop": {
            "post": {
                "summary": "Stop a strategy instance; its resting orders are cancelled",
                "security": [{"bearer": []}],
                "requestBody": _body(StopStrategy),
                "responses": {
                    "200": _json(INSTANCE, "Stopped."),
                    "404": _error("No such instance."),
                    "409": _error("The instance is not running."),
                    **WRITE_ERRORS,
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/strategies/active": {
            "get": {
                "summary": "Running strategy instances",
                "responses": {"200": _json({"type": "object"}, "Instances."), **COMMON_ERRORS},
            }
        },
        "/api/v1/strategies/{strategy_id}/status": {
            "get": {
                "summary": "One strategy instance",
                "parameters": [STRATEGY_ID],
                "responses": {"200": _json(INSTANCE, "The instance."), "404": _error("No such instance."), **COMMON_ERRORS},
            }
        },
        "/api/v1/strategies/{strategy_id}/performance": {
            "get": {
                "summary": "Trades, P&L, win rate, maximum drawdown and Sharpe ratio of an instance",
                "parameters": [STRATEGY_ID],
                "responses": {"200": _json({"type": "object"}, "Performance (README: formulas)."),
                              "404": _error("No such instance."), **COMMON_ERRORS},
            }
        },
        "/api/v1/market/prices/{symbol}": {
            "get": {
                "summary": "Latest price of one instrument",
                "parameters": [{"name": "symbol", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Price"), "The price."), "404": _error("Unknown symbol."), **COMMON_ERRORS},
            }
        },
    }


def build_openapi(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trading-system-engine",
            "version": version,
            "description": "Orders on a paper venue, positions and P&L, pre-trade risk. Decimals are strings.",
        },
        "paths": _operations(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
