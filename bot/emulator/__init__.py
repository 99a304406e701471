"""The local Slack: a Web API emulator and a driver that plays the people, for tests and demo."""

from bot.emulator.calls import ApiCall
from bot.emulator.driver import DriverResponse, SlackDriver
from bot.emulator.server import SlackEmulator
from bot.emulator.tenant import Tenant

__all__ = ["ApiCall", "DriverResponse", "SlackDriver", "SlackEmulator", "Tenant"]
