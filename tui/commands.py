"""The command palette's dockwire entries: every action from the key data, offered only where it applies.

A disabled action is still listed, with the reason, so the palette doubles as "why can't I do that?".
On the main screen the command line's commands are listed too: choosing one opens `:` with it typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.actions import parse
from textual.command import DiscoveryHit, Hit, Hits, Provider

from dockwire.tui.bindings import APP_KEYS, CONTAINER_KEYS, MAIN_KEYS, MATRIX_KEYS, Key
from dockwire.tui.command_parse import VERBS


class DockwireCommands(Provider):
    def _entries(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        # The palette is a screen itself: look at the one it was opened over.
        target = screen.app.screen_stack[-2] if screen.app.screen is not screen else screen
        keys: tuple[Key, ...] = APP_KEYS
        name = type(target).__name__
        if name == "MainScreen":
            keys = keys + MAIN_KEYS
        elif name == "MatrixScreen":
            keys = keys + MATRIX_KEYS
        elif name == "ContainerScreen":
            keys = keys + CONTAINER_KEYS
        for key in keys:
            if not key.command:
                continue
            namespace, bare, parameters = parse(key.action)
            owner = screen.app if namespace == "app" or key in APP_KEYS else target
            state = owner.check_action(bare, parameters)
            title = f"{key.description.rstrip('…')} ({key.key_display})"
            if state is None or state is False:
                reason = getattr(screen.app, "probes_off", "") or "not available now"
                yield (
                    f"{title} — disabled",
                    f"{key.help}. Disabled: {reason}",
                    partial(
                        screen.app.notify,
                        f"{key.description}: disabled ({reason})",
                        severity="warning",
                        markup=False,
                    ),
                )
                continue
            yield title, key.help, partial(screen.app.run_action, key.action, owner)
        if name == "MainScreen":
            for verb in VERBS:
                # The verb goes through the action's parser as a string literal: only letters in it.
                action = f"command_line('{verb.name} ')"
                yield f":{verb.usage}", verb.help, partial(screen.app.run_action, action, target)

    async def discover(self) -> Hits:
        for title, help_text, command in self._entries():
            yield DiscoveryHit(title, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, command in self._entries():
            score = max(matcher.match(title), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(title), command, text=title, help=help_text)
