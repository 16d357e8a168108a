"""The rating app's routers, one per concern."""
