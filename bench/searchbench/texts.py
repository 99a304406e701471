"""What the records say: client instructions from templates, about half English and half
Chinese, with known shares for the words the benchmark searches for.

- "please" (any case) is in about a quarter of the records: a common word;
- host names `edge-0000`...`edge-9999` are each in a few dozen records: rare words (the
  number of hosts grows with the records, up to 10,000: about 70 records each at 1,000,000);
- 负载均衡 (load balancing, four characters) is in about 3% of the records;
- 规则 (rule, two characters: too short for a trigram index) is in about 4%.

No other template or filler contains those words. Each template's weight is its share
within its language.
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Callable

HOST_MENTIONS_PER_HOST = 40  # until MAX_HOSTS caps it
MAX_HOSTS = 10_000

ENGLISH = (
    (18, "please {verb} the {param} on {host} {when}"),
    (10, "Please {verb} {service} on {host} and {host2} after the {window} window"),
    (12, "{Verb} the {param} on {host} to {value} {when}, customer asked"),
    (12, "{client} asks us to {verb} {service} before {day}; please confirm with them first"),
    (12, "Agreed with {client}: {service} stays frozen until {day}, no changes"),
    (12, "Roll back {service} to {version} on {host} if the error rate passes {pct}%"),
    (10, "PLEASE keep {host} out of the {pool} pool until {client} signs off"),
    (13, "Decision: {service} moves to {region} in {month}, {client} agreed on the call"),
    (10, "{Verb} {service} for {client} {when} and send them the change report"),
)
CHINESE = (
    (16, "请把{host}的{cparam}改成{value}"),
    (3, "{cday}前完成{csystem}的负载均衡配置调整"),
    (4, "客户{cclient}要求更新{csystem}的防火墙规则，放行{port}端口"),
    (14, "{cday}{ctime}重启{csystem}，提前通知客户"),
    (14, "请确认{csystem}的告警阈值调到{pct}%"),
    (3, "{csystem}扩容{count}台服务器，{cday}前上线，挂到负载均衡后面"),
    (14, "按客户要求回滚{csystem}到{version}，{host}先做"),
    (4, "按照新的计费规则，{cclient}从{month}起按月结算"),
    (14, "{host}下线维护，流量切到{host2}"),
    (14, "{cclient}确认{cday}{ctime}做{csystem}割接，{host}不动"),
)
FILLERS: dict[str, tuple[str, ...]] = {
    "verb": ("raise", "lower", "reset", "update", "check", "change", "restore", "drain"),
    "param": (
        "BGP hold timer", "MTU", "connection limit", "TLS cipher list", "DNS TTL",
        "rate limit", "health check interval", "log level", "cache size",
    ),
    "when": ("tonight", "tomorrow morning", "before Friday", "during the window", "now"),
    "service": ("the payment gateway", "order API", "CDN config", "mail relay", "VPN"),
    "window": ("Saturday", "midnight", "02:00", "Sunday", "maintenance"),
    "value": ("30s", "9000", "512", "90 seconds", "4 GB", "1500", "250ms"),
    "client": ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Contoso", "Wayne"),
    "day": ("Monday", "Dec 1", "the 15th", "end of month", "next Tuesday"),
    "version": ("v2.3.1", "v1.9", "last week's build", "v4.0.2", "release 118"),
    "pct": ("2", "5", "0.5", "10", "1"),
    "pool": ("east", "west", "primary", "canary", "backup"),
    "region": ("eu-west", "ap-east", "us-central", "the new DC", "Singapore"),
    "month": ("January", "March", "Q3", "July", "next month"),
    "cparam": ("超时时间", "保持时间", "重试次数", "连接数上限", "缓存大小", "日志级别"),
    "cday": ("周五", "明天", "月底", "下周一", "十二月一日", "本周"),
    "ctime": ("凌晨两点", "晚上十点", "中午", "早上八点", "零点"),
    "csystem": ("支付网关", "订单系统", "核心交换机", "DNS", "邮件服务", "数据库集群", "CDN"),
    "cclient": ("华东分公司", "某银行", "零售客户", "物流公司", "保险客户", "政务云"),
    "port": ("443", "8443", "22", "3306", "53", "8080"),
    "count": ("两", "三", "四", "六"),
}  # fmt: skip


def host_count(records: int) -> int:
    """As many hosts as keep each in a few dozen records (the templates name about 0.7 hosts
    per record)."""
    return max(10, min(MAX_HOSTS, records * 7 // 10 // HOST_MENTIONS_PER_HOST))


def host_name(number: int) -> str:
    return f"edge-{number:04d}"  # always four digits: one name is never inside another


def writer(rng: random.Random, records: int) -> Callable[[], str]:
    """A function that writes the next record's text."""
    hosts = host_count(records)
    english = [template for _, template in ENGLISH]
    english_weights = list(itertools.accumulate(weight for weight, _ in ENGLISH))
    chinese = [template for _, template in CHINESE]
    chinese_weights = list(itertools.accumulate(weight for weight, _ in CHINESE))
    # Only the fields a template names are drawn: a million records, twenty fields each.
    fields = {
        template: [name for _, name, _, _ in string.Formatter().parse(template) if name]
        for template in english + chinese
    }

    def fill(template: str) -> str:
        values: dict[str, str] = {}
        for name in fields[template]:
            if name in ("host", "host2"):
                values[name] = host_name(rng.randrange(hosts))
            elif name == "Verb":
                values[name] = rng.choice(FILLERS["verb"]).capitalize()
            else:
                values[name] = rng.choice(FILLERS[name])
        return template.format(**values)

    def write() -> str:
        if rng.random() < 0.5:
            return fill(rng.choices(english, cum_weights=english_weights)[0])
        return fill(rng.choices(chinese, cum_weights=chinese_weights)[0])

    return write
