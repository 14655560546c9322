"""ELK builder–breaker support: executable worlds, the scenario library, reporters and reading agents' text.

The protocol itself lives in ``protocols/elk.py``; this package holds what it stands on, so that tasks,
policies and views can share it without importing the protocol.
"""
