"""Tasks are data: the task schema (`tasks.yaml`), the data-format registry, the builtin tasks, and loading a task's
splits from the Hub, local files (any registered format), corpus layouts or a recipe."""
