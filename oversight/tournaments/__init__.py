"""Tournament configs that ship with the package (``oversight tournament`` runs ``default.toml``)."""
