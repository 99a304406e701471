"""The app's side of Slack's OAuth v2, kept as Slack keeps it: the app's credentials and
Redirect URLs, who approves the next install on the consent page, the codes that page hands
out, and the bot tokens each workspace was granted (and which were revoked).

`OAuthApp` only ever runs under the emulator's lock. The consent page answers a browser
(a 302 back to the app, or an error page); `exchange` is `oauth.v2.access` and raises
`MethodError` for Slack's error answers.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode

from bot.emulator.errors import MethodError, Params
from bot.emulator.methods import ALWAYS_ALLOWED, spec_params
from bot.emulator.workspace import Workspace

CODE_TTL = 600  # Slack's codes last ten minutes
ACCESS_PARAMS = frozenset(
    {"client_id", "client_secret", "code", "redirect_uri", "grant_type", "refresh_token"}
)


@dataclass
class Decision:
    """What the person on the consent page does: approve for their workspace, or cancel."""

    team_id: str
    user_id: str
    approve: bool = True


@dataclass
class Code:
    team_id: str
    user_id: str
    scope: str
    redirect_uri: str  # where the code went
    named: bool  # whether the authorize URL named that redirect_uri (then access must too)
    issued_at: float
    used: bool = False


@dataclass
class Grant:
    team_id: str
    revoked: bool = False


class ConsentError(Exception):
    """What Slack's consent page shows instead of sending the person back to the app."""


class OAuthApp:
    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_urls: Iterable[str] = (),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_urls = list(redirect_urls)
        self.decisions: list[Decision] = []
        self.codes: dict[str, Code] = {}
        self.grants: dict[str, Grant] = {}  # bot token -> workspace
        self.bot_tokens: dict[str, str] = {}  # team -> its latest bot token
        self.scopes: dict[str, list[str]] = {}  # team -> bot scopes granted so far

    # --- tokens -----------------------------------------------------------------------------

    def grant(self, team_id: str, token: str | None = None) -> str:
        token = token or (
            f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.randbelow(10**13):013d}-"
            f"{secrets.token_urlsafe(18)}"
        )
        if token in self.grants and self.grants[token].team_id != team_id:
            raise ValueError(f"token {token} already belongs to {self.grants[token].team_id}")
        self.grants[token] = Grant(team_id)
        self.bot_tokens[team_id] = token
        return token

    def live_token(self, team_id: str) -> str | None:
        token = self.bot_tokens.get(team_id)
        return token if token is not None and not self.grants[token].revoked else None

    def revoke(self, team_id: str) -> list[str]:
        """Revokes every token of the workspace; returns those that still worked."""
        revoked = [t for t, g in self.grants.items() if g.team_id == team_id and not g.revoked]
        for token in revoked:
            self.grants[token].revoked = True
        self.scopes.pop(team_id, None)
        return revoked

    def authenticate(self, token: str | None) -> tuple[str | None, str]:
        """(team id, "") for a working token, else (None, the error Slack gives)."""
        if not token:
            return None, "not_authed"
        grant = self.grants.get(token)
        if grant is None:
            return None, "invalid_auth"
        if grant.revoked:
            return None, "token_revoked"
        return grant.team_id, ""

    # --- the consent page (GET /oauth/v2/authorize) ------------------------------------------

    def consent(
        self, query: Params, is_member: Callable[[str, str], bool], now: float
    ) -> tuple[str, str]:
        """(the workspace, where the browser goes next); raises ConsentError."""
        if self.client_id is None:
            raise ConsentError("invalid_client_id: the emulator has no OAuth app configured")
        if query.get("client_id") != self.client_id:
            raise ConsentError(f"invalid_client_id: {query.get('client_id')!r}")
        redirect_uri = self._redirect_uri(str(query.get("redirect_uri") or ""))
        scope = str(query.get("scope") or "")
        if not scope.strip(","):
            raise ConsentError("invalid_scope: no bot scopes asked for")
        decision = self._decision(query)
        if not is_member(decision.team_id, decision.user_id):
            raise ConsentError(
                f"{decision.user_id} is no person of workspace {decision.team_id}: "
                "add_workspace() and add_user() them first"
            )
        state = {"state": query["state"]} if query.get("state") is not None else {}
        if not decision.approve:
            return decision.team_id, _redirect_to(redirect_uri, {"error": "access_denied", **state})
        code = f"{int(now)}.{secrets.randbelow(10**12):012d}.{secrets.token_hex(32)}"
        named = bool(query.get("redirect_uri"))
        self.codes[code] = Code(decision.team_id, decision.user_id, scope, redirect_uri, named, now)
        return decision.team_id, _redirect_to(redirect_uri, {"code": code, **state})

    def _redirect_uri(self, asked: str) -> str:
        if not asked:
            if not self.redirect_urls:
                raise ConsentError("bad_redirect_uri: none asked for and none configured")
            return self.redirect_urls[0]
        # Slack takes a configured Redirect URL or anything beneath it.
        if self.redirect_urls and not any(
            asked == url or asked.startswith(url.rstrip("/") + "/") for url in self.redirect_urls
        ):
            raise ConsentError(f"bad_redirect_uri: {asked} is not among {self.redirect_urls}")
        return asked

    def _decision(self, query: Params) -> Decision:
        if query.get("emulator_team") and query.get("emulator_user"):
            approve = query.get("emulator_cancel") in (None, "", "0", "false")
            return Decision(str(query["emulator_team"]), str(query["emulator_user"]), approve)
        if not self.decisions:
            raise ConsentError(
                "nobody is on the consent page: call emulator.approve_next_install(team, user)"
            )
        return self.decisions.pop(0)

    # --- oauth.v2.access --------------------------------------------------------------------

    def exchange(self, params: Params, headers: Message, now: float, *, strict: bool) -> Code:
        """Checks the app's credentials and spends the code; returns what it stood for."""
        known = ACCESS_PARAMS | ALWAYS_ALLOWED | spec_params().get("oauth.v2.access", set())
        unknown = sorted(set(params) - known)
        if unknown and strict:
            raise MethodError(
                "invalid_arg_name", *(f"[ERROR] unknown parameter: {n}" for n in unknown)
            )
        client_id, client_secret = _credentials(params, headers)
        if self.client_id is None or client_id != self.client_id:
            raise MethodError("invalid_client_id")
        if client_secret != self.client_secret:
            raise MethodError("bad_client_secret")
        grant_type = params.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            raise MethodError("invalid_refresh_token")  # token rotation is not turned on
        if grant_type != "authorization_code":
            raise MethodError("invalid_grant_type")
        code = self.codes.get(str(params.get("code") or ""))
        if code is None or code.used or now - code.issued_at > CODE_TTL:
            raise MethodError("invalid_code")
        asked = params.get("redirect_uri")
        if (code.named or asked) and asked != code.redirect_uri:
            raise MethodError("bad_redirect_uri")
        code.used = True
        return code

    def install(self, ws: Workspace, code: Code) -> Params:
        """The workspace gets a bot token (the one it still has, on a reinstall)."""
        token = self.live_token(ws.team_id) or self.grant(ws.team_id)
        scopes = self.scopes.setdefault(ws.team_id, [])
        scopes.extend(s for s in code.scope.split(",") if s and s not in scopes)
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(scopes),
            "bot_user_id": ws.bot_user_id,
            "app_id": ws.app_id,
            "team": {"name": ws.teams[ws.team_id]["name"], "id": ws.team_id},
            "enterprise": None,
            "authed_user": {"id": code.user_id},
            "is_enterprise_install": False,
        }


def error_page(message: str) -> str:
    return f"<html><body><h1>Slack (emulated)</h1><p>{html.escape(message)}</p></body></html>"


def _redirect_to(uri: str, query: Params) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{urlencode(query)}"


def uninstall_events(ws: Workspace) -> list[Params]:
    """What Slack sends the app once it is uninstalled from a workspace."""
    return [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [ws.bot_user_id]}},
    ]


def _credentials(params: Params, headers: Message) -> tuple[str | None, str | None]:
    """HTTP basic auth (what slack_sdk sends) or client_id/client_secret in the body."""
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return client_id, client_secret
    return params.get("client_id"), params.get("client_secret")
