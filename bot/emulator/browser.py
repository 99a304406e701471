"""A person's browser through "Add to Slack", over real HTTP: the app's install page, Slack's
consent page (the emulator's), then back to the app's redirect URL with the code, carrying the
state cookie the install page set. Redirects are followed by hand, one hop at a time.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from bot.emulator.wire import DriverResponse, loopback, request

_LINK = re.compile(r"""href\s*=\s*["']([^"']*client_id=[^"']*)["']""", re.IGNORECASE)


def install(
    app_base_url: str,
    team_id: str,
    user_id: str,
    *,
    approve: bool = True,
    install_path: str = "/slack/install",
    slack_base_url: str | None = None,
    timeout: float = 10.0,
) -> DriverResponse:
    """`user_id` of `team_id` installs the app, or cancels on the consent page (`approve`).
    Returns the app's answer at its redirect URL (Bolt's success or failure page).

    The person is named to the emulator's consent page in the query string, so no
    `approve_next_install` is needed. `slack_base_url` (the emulator's) makes sure the app
    sent the browser to the emulator rather than to slack.com."""
    start = request("GET", app_base_url.rstrip("/") + install_path, timeout=timeout)
    authorize = _authorize_url(start)
    if slack_base_url is not None and not authorize.startswith(slack_base_url.rstrip("/") + "/"):
        raise AssertionError(
            f"the app sends people to {authorize}, not to the emulator at {slack_base_url}: "
            "give Bolt OAuthSettings(authorization_url=emulator.authorize_url)"
        )
    person = {"emulator_team": team_id, "emulator_user": user_id}
    if not approve:
        person["emulator_cancel"] = "1"
    joiner = "&" if "?" in authorize else "?"
    consent = request("GET", f"{authorize}{joiner}{urlencode(person)}", timeout=timeout)
    back = consent.header("Location")
    if consent.status != 302 or not back:
        raise AssertionError(
            f"Slack's consent page answered {consent.status}, not a redirect: {consent.body}"
        )
    loopback(back)  # the browser goes back to the app on this machine, nowhere else
    cookies = "; ".join(c.split(";", 1)[0].strip() for c in start.set_cookies)
    return request("GET", back, headers={"Cookie": cookies} if cookies else {}, timeout=timeout)


def _authorize_url(page: DriverResponse) -> str:
    """Bolt either redirects straight to Slack or renders a page with an "Add to Slack" link."""
    location = page.header("Location")
    if page.status in (301, 302, 303, 307, 308) and location:
        return location
    found = _LINK.search(page.body) if page.status == 200 else None
    if found is None:
        raise AssertionError(
            f"the app's install page ({page.status}) neither redirects nor links to Slack: "
            f"{page.body[:500]}"
        )
    return html.unescape(found.group(1))
