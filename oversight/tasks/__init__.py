"""Task sets: built-in generators by name, or the user's own JSONL/CSV file by path."""

from oversight.tasks.items import TaskItem, TaskSet
from oversight.tasks.loading import load_task, load_task_file
from oversight.tasks.registry import TASKS

__all__ = ["TASKS", "TaskItem", "TaskSet", "load_task", "load_task_file"]
