"""Wheel layout: the top-level ``prompts/`` and ``protocols/`` folders go inside the ``oversight`` package.

Only the regular wheel gets them. An editable install maps ``oversight`` to the source tree, where
``oversight.prompts`` and ``oversight.protocols`` find the two folders themselves; copies in site-packages would
make ``oversight`` look like a namespace package there.
"""

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class WheelLayout(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"]["prompts"] = "oversight/_prompts"
            build_data["force_include"]["protocols"] = "oversight/protocols"
