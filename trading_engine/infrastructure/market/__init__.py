"""Market adapters: a simulated price feed (``MarketDataPort``) and a paper venue
(``ExecutionVenuePort``) that fills orders against it."""
