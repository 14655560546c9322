"""Jinja prompt templates: ``prompts/<protocol>/<role>.j2``, overridable by name from a user folder.

A template renders to chat messages through its blocks: ``{% block system %}`` and ``{% block user %}``
become a system and a user message (a template without blocks is one user message). Templates render in
Jinja's sandbox with strict undefined variables, so a user template cannot reach Python internals and a
misspelt variable is an error naming the template and the variable, not an empty string. Any error while rendering
(``{{ 1/0 }}``, an include of a missing template) stops the run in one line naming the template: every game would
render it and fail the same way.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from oversight.errors import FatalRunError, UserError
from oversight.models.base import ChatMessage

_MESSAGE_BLOCKS = ("system", "user")


def _line(template: jinja2.Template, exc: BaseException) -> str:
    """" line N": where in ``template`` rendering raised (for an error inside an included template, the include)."""
    lines = [n for frame, n in traceback.walk_tb(exc.__traceback__) if frame.f_code.co_filename == template.filename]
    return f" line {template.get_corresponding_lineno(lines[-1])}" if lines else ""


def builtin_prompts_dir() -> Path:
    """The folder of the built-in templates: inside an installed wheel, or the repository's top-level ``prompts/``
    when running from a checkout."""
    package = Path(__file__).resolve().parent
    installed = package / "_prompts"  # where the wheel puts the top-level prompts/ folder
    return installed if installed.is_dir() else package.parent / "prompts"


class PromptLibrary:
    """The templates a run renders: each name is looked up in the user's ``--prompts`` folder first, then among the
    built-in ones."""

    def __init__(self, user_dir: Path | None = None, protocol_dirs: Sequence[Path] = ()) -> None:
        """``protocol_dirs``: folders of templates that protocols ship themselves (plug-ins), searched after
        ``user_dir`` and before the built-in templates."""
        if user_dir is not None and not user_dir.is_dir():
            raise UserError(f"--prompts {user_dir}: not a directory")
        self.user_dir = user_dir
        search = [str(user_dir)] if user_dir else []
        search.extend(str(folder) for folder in protocol_dirs)
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
        """A compiled template by name (kept for later calls); FatalRunError when it is missing or does not parse."""
        if name not in self._cache:
            try:
                self._cache[name] = self._env.get_template(name)
            except jinja2.TemplateNotFound:
                raise FatalRunError(f"prompt template {name!r} not found in {self._where()}") from None
            except jinja2.TemplateSyntaxError as exc:
                raise FatalRunError(f"prompt template {name!r} line {exc.lineno}: {exc.message}") from None
        return self._cache[name]

    def render(self, name: str, variables: dict[str, Any]) -> list[ChatMessage]:
        """A template rendered to chat messages: a system and a user message from its blocks (an empty block is left
        out), or one user message from a template without them; any error is a FatalRunError naming the template."""
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
        except jinja2.TemplateSyntaxError as exc:  # in a template it includes or extends
            raise FatalRunError(f"prompt template {exc.name!r} line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:  # an include or extends of a missing template
            missing = f"template {exc.name!r} not found in {self._where()}"
            raise FatalRunError(f"prompt template {name!r}{_line(template, exc)}: {missing}") from None
        except jinja2.UndefinedError as exc:
            raise FatalRunError(f"prompt template {name!r}{_line(template, exc)}: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            refused = f"not allowed in the sandbox ({exc})"
            raise FatalRunError(f"prompt template {name!r}{_line(template, exc)}: {refused}") from None
        except Exception as exc:  # the template's own expressions ({{ 1/0 }}): every game would fail alike
            failure = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            raise FatalRunError(f"prompt template {name!r}{_line(template, exc)}: {failure}") from None

    def names(self) -> list[str]:
        """Every template name the library can resolve, user and built-in alike, in order."""
        return sorted(self._env.list_templates(extensions=["j2"]))

    def sources(self, folder: str) -> dict[str, str]:
        """The source of every template under ``folder/`` and of every template those include or extend, as this
        library resolves each name (a user folder's file before the built-in one)."""
        pending = [name for name in self.names() if name.startswith(f"{folder}/")]
        found: dict[str, str] = {}
        while pending:
            name = pending.pop()
            if name in found:
                continue
            try:
                found[name] = self._env.loader.get_source(self._env, name)[0]  # type: ignore[union-attr]
                referenced = jinja2.meta.find_referenced_templates(self._env.parse(found[name]))
            except (jinja2.TemplateNotFound, jinja2.TemplateSyntaxError):
                continue  # reported when the template is loaded, before the run starts
            pending += [ref for ref in referenced if ref]  # None: a name computed while rendering
        return found
