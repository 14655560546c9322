"""Built-in task sets by name; plug-ins add more under the entry-point group ``oversight.tasks``.

Each entry is a function ``(seed) -> TaskSet``.
"""

from oversight.registry import Registry

TASKS = Registry(
    "oversight.tasks",
    "task",
    builtins={
        "mini-stories": "oversight.tasks.stories:mini_stories",
        "nested-arithmetic": "oversight.tasks.decomposable.arithmetic:nested_arithmetic",
        "permutation-powering": "oversight.tasks.decomposable.permutation:permutation_powering",
        "sequential-assignments": "oversight.tasks.decomposable.assignments:sequential_assignments",
        "wildcard-search": "oversight.tasks.decomposable.wildcard:wildcard_search",
        "shortest-path": "oversight.tasks.decomposable.shortest_path:shortest_path",
        "union-find": "oversight.tasks.decomposable.union_find:union_find",
        "multi-hop": "oversight.tasks.decomposable.relations:multi_hop",
        "word-problems": "oversight.tasks.word_problems:word_problems",
    },
)
