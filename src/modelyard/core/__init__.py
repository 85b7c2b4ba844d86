"""Domain layer: entities, ids, errors, filters. Imports nothing of modelyard and no third party but pydantic."""
