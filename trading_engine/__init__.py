"""trading-system-engine: an asyncio trading engine service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trading-system-engine")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
