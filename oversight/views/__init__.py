"""Protocol-specific terminal views for ``oversight show RUN GAME_ID``.

A view is a function ``(record: GameRecord) -> list[rich renderable]`` shown after the turns; it renders what a
protocol keeps in ``record.meta`` (a decomposition tree, builder–breaker rounds, …). One line per protocol below
(or an entry point in the group ``oversight.views``).
"""

from oversight.registry import Registry

VIEWS = Registry("oversight.views", "view", builtins={"elk": "oversight.views.elk:elk_rounds", "ida": "oversight.views.ida:render"})

__all__ = ["VIEWS"]
