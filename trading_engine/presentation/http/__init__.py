"""The aiohttp presentation: routes, handlers, middlewares."""
