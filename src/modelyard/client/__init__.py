"""The HTTP client: implements the store interfaces against a modelyard server (the server issue fills it)."""
