"""Jinja prompt templates: ``prompts/<protocol>/<role>.j2``, overridable by name from a user folder.

A template renders to chat messages through its blocks: ``{% block system %}`` and ``{% block user %}``
become a system and a user message (a template without blocks is one user message). Templates render in
Jinja's sandbox with strict undefined variables, so a user template cannot reach Python internals and a
misspelt variable is an error naming the template and the variable, not an empty string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from oversight.errors import FatalRunError, UserError
from oversight.models.base import ChatMessage

_MESSAGE_BLOCKS = ("system", "user")


def builtin_prompts_dir() -> Path:
    package = Path(__file__).resolve().parent
    installed = package / "_prompts"  # where the wheel puts the top-level prompts/ folder
    return installed if installed.is_dir() else package.parent / "prompts"


class PromptLibrary:
    def __init__(self, user_dir: Path | None = None) -> None:
        if user_dir is not None and not user_dir.is_dir():
            raise UserError(f"--prompts {user_dir}: not a directory")
        self.user_dir = user_dir
        search = [str(user_dir)] if user_dir else []
        search.append(str(builtin_prompts_dir()))
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # templates do not change during a run; skip a stat() per render
        )
        self._cache: dict[str, jinja2.Template] = {}

    def _where(self) -> str:
        return f"{self.user_dir} or the built-in prompts" if self.user_dir else "the built-in prompts"

    def template(self, name: str) -> jinja2.Template:
        if name not in self._cache:
            try:
                self._cache[name] = self._env.get_template(name)
            except jinja2.TemplateNotFound:
                raise FatalRunError(f"prompt template {name!r} not found in {self._where()}") from None
            except jinja2.TemplateSyntaxError as exc:
                raise FatalRunError(f"prompt template {name!r} line {exc.lineno}: {exc.message}") from None
        return self._cache[name]

    def render(self, name: str, variables: dict[str, Any]) -> list[ChatMessage]:
        template = self.template(name)
        try:
            context = template.new_context(variables)
            # rendering the whole template first lets {% extends %} register its parents' blocks in the context
            body = "".join(template.root_render_func(context))
            blocks = [b for b in _MESSAGE_BLOCKS if b in context.blocks]
            if not blocks:
                return [ChatMessage(role="user", content=body.strip())]
            messages = []
            for block in blocks:
                content = "".join(context.blocks[block][0](context)).strip()
                if content:
                    messages.append(ChatMessage(role=block, content=content))  # type: ignore[arg-type]
            return messages
        except jinja2.UndefinedError as exc:
            raise FatalRunError(f"prompt template {name!r}: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise FatalRunError(f"prompt template {name!r}: not allowed in the sandbox ({exc})") from None

    def names(self) -> list[str]:
        return sorted(self._env.list_templates(extensions=["j2"]))
