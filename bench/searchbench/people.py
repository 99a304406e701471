"""The workspace's channels and people, and who is in which channel.

Channels differ in size the way a real workspace's do: a few that nearly everyone is in, a
long tail of small team and customer channels. Most people are in 2-10 channels, some in
30 or more, a few in 100 or more. Every channel has at least three members, so a record can
have a capturer and requesters who are all in it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

CHANNELS = 200
PEOPLE = 2_000
MIN_MEMBERS = 3
TOPICS = (
    "edge", "core", "dns", "cdn", "billing", "payments", "noc", "oncall", "cust", "infra",
    "db", "network", "release", "support", "sec", "mail", "ops", "lb", "dc", "backup",
)  # fmt: skip


@dataclass
class Population:
    channels: list[str]
    channel_names: dict[str, str]
    people: list[str]
    members: dict[str, list[str]]  # channel -> its members
    channels_of: dict[str, list[str]] = field(default_factory=dict)  # person -> channels

    def with_few_channels(self, most: int) -> list[str]:
        return [person for person in self.people if len(self.channels_of[person]) <= most]


def populate(seed: int) -> Population:
    rng = random.Random(seed)
    channels = [f"C0SB{n:05d}" for n in range(CHANNELS)]
    names = {
        channel: f"{TOPICS[n % len(TOPICS)]}-{n // len(TOPICS) + 1}"
        for n, channel in enumerate(channels)
    }
    people = [f"U0SB{n:05d}" for n in range(PEOPLE)]
    # How popular each channel is: by rank, a long tail (Zipf-like).
    ranked = channels[:]
    rng.shuffle(ranked)
    weight = {channel: 1 / (rank + 3) ** 0.9 for rank, channel in enumerate(ranked)}
    members: dict[str, set[str]] = {channel: set() for channel in channels}
    channels_of: dict[str, list[str]] = {}
    for person in people:
        chosen = _weighted_sample(rng, channels, weight, _channel_count(rng))
        channels_of[person] = chosen
        for channel in chosen:
            members[channel].add(person)
    for channel in channels:
        while len(members[channel]) < MIN_MEMBERS:
            person = rng.choice(people)
            if person not in members[channel]:
                members[channel].add(person)
                channels_of[person].append(channel)
    return Population(
        channels=channels,
        channel_names=names,
        people=people,
        members={channel: sorted(members[channel]) for channel in channels},
        channels_of={person: sorted(chosen) for person, chosen in channels_of.items()},
    )


def _channel_count(rng: random.Random) -> int:
    """How many channels one person is in."""
    draw = rng.random()
    if draw < 0.78:
        return rng.randint(2, 10)
    if draw < 0.93:
        return rng.randint(11, 29)
    if draw < 0.985:
        return rng.randint(30, 99)
    return rng.randint(100, 160)


def _weighted_sample(
    rng: random.Random, items: list[str], weight: dict[str, float], count: int
) -> list[str]:
    """`count` distinct items, each drawn in proportion to its weight (Efraimidis-Spirakis)."""
    keyed = sorted(items, key=lambda item: rng.random() ** (1 / weight[item]), reverse=True)
    return keyed[:count]


class FakeSlack:
    """The Slack gateway as search needs it, answering from the generated membership: who is
    in a channel (asked by today's search) and which channels a person is in (asked by the
    rewritten one). It counts the calls, so a timed search that still asks Slack shows."""

    def __init__(self, population: Population) -> None:
        self._members = {channel: set(people) for channel, people in population.members.items()}
        self._channels_of = {
            person: set(channels) for person, channels in population.channels_of.items()
        }
        self.calls = 0

    def channel_members(self, channel_id: str) -> set[str]:
        self.calls += 1
        return set(self._members.get(channel_id, ()))

    def user_channels(self, user_id: str) -> set[str]:
        self.calls += 1
        return set(self._channels_of.get(user_id, ()))


@dataclass(frozen=True)
class FixedClock:
    """Time stands still, after the newest record: the membership cache never goes stale."""

    at: datetime

    def now(self) -> datetime:
        return self.at
