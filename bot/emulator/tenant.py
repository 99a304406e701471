"""Another workspace in the same emulator: `SlackEmulator.add_workspace` makes one.

A `Tenant` has the first workspace's whole setup, accessor and people-action API (it is an
`EmulatorState` too) and shares the emulator's lock, so the HTTP thread and the test never
race. The Web API picks the workspace from the bearer token, so a WebClient with
`tenant.bot_token` acts in it; `SlackDriver(app_url, secret, tenant)` plays its people.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from bot.emulator.calls import ApiCall
from bot.emulator.errors import Params
from bot.emulator.state import EmulatorState
from bot.emulator.workspace import Clock


class Host(Protocol):
    """The emulator a tenant lives in (see `SlackEmulator`)."""

    def calls(self, method: str | None = None, *, team_id: str | None = None) -> list[ApiCall]: ...
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None: ...
    def token_of(self, team_id: str) -> str | None: ...
    def is_installed(self, team_id: str | None = None) -> bool: ...
    def uninstall(self, team_id: str) -> list[Params]: ...


class Tenant(EmulatorState):
    def __init__(
        self,
        host: Host,
        team_id: str,
        team_name: str,
        domain: str,
        *,
        bot_user_id: str,
        bot_id: str,
        bot_name: str,
        app_id: str,
        clock: Clock | None,
        cond: threading.Condition,
        id_tag: str,
    ) -> None:
        super().__init__(
            team_id,
            team_name,
            domain,
            bot_user_id,
            bot_name,
            clock,
            bot_id,
            app_id,
            cond=cond,
            id_tag=id_tag,
        )
        self._host = host

    @property
    def bot_token(self) -> str | None:
        """The latest bot token issued here (revoked after `uninstall`); None before any."""
        return self._host.token_of(self.team_id)

    def is_installed(self) -> bool:
        return self._host.is_installed(self.team_id)

    def uninstall(self) -> list[Params]:
        """See `SlackEmulator.uninstall`."""
        return self._host.uninstall(self.team_id)

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """The calls made with this workspace's tokens."""
        return self._host.calls(method, team_id=self.team_id)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        self._host.wait_for(predicate, timeout)
