"""Amplification (IDA): a question decomposed into a tree of subquestions, answered bottom-up.

``protocol`` holds the rules, ``tree`` reads decompositions, ``metrics`` the family's figures and distilled
pairs, ``views`` the terminal tree, ``policies`` the scripted oracle.
"""

from oversight.protocols.ida.protocol import Ida

__all__ = ["Ida"]
