"""OpenAPI parts of the areas added after the core spec (one module per area)."""
