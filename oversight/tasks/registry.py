"""Built-in task sets by name; plug-ins add more under the entry-point group ``oversight.tasks``.

Each entry is a function ``(seed) -> TaskSet``.
"""

from oversight.registry import Registry

TASKS = Registry(
    "oversight.tasks",
    "task",
    builtins={
        "mini-stories": "oversight.tasks.stories:mini_stories",
        "word-problems": "oversight.tasks.word_problems:word_problems",
    },
)
