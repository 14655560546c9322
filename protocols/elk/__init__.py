"""ELK builder–breaker games over executable worlds.

``protocol`` holds the rules; ``world`` and ``scenarios`` the worlds and their library, ``reporters`` the
reporters a builder proposes, ``parsing`` how agents' text is read, ``records`` what a game keeps, ``metrics``
the family's figures, ``views`` the terminal rounds, ``policies`` the scripted players and ``task`` the
scenario task set.
"""

from oversight.protocols.elk.protocol import Elk

__all__ = ["Elk"]
