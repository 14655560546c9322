"""The rules of each game, one module per family; registered by name in ``oversight.protocol.PROTOCOLS``."""
