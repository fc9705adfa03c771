"""Soak: a local world of ministries publishing on a schedule, the whole distributed stack, and chaos.

    .venv/bin/python bench/soak.py [--minutes 5] [--sources 200] [--workers 2] [--seed 1] [--no-chaos]
                                   [--keep-db] [--interval 90] [--both-sides 0.3] [--drain 150]

Needs Postgres on 127.0.0.1:5432 (a database is created and dropped) and the ``redis-server`` binary (a
server of its own is started on a free port; the one on 6379 is never touched). Everything listens on
127.0.0.1; every loop is bounded in time and count, and the script stops by itself.

* **The world**: one threaded HTTP server playing ``--sources`` press sites (RSS feeds and, every fifth one,
  an HTML listing) of the foreign ministries of 43 states, in English, Russian (post-Soviet states) and
  Chinese (China). Each site publishes releases at random times (mean gap ``--interval`` s) during
  ``--minutes``. A release reports one meeting of its state's foreign minister with another state's, on a
  day of its own for that pair (a pair's days lie three or more apart, so no two published meetings may
  merge); with probability ``--both-sides`` the other state's ministry reports the same meeting too, later,
  in its own language, and the two reports must merge. The releases are written here from templates, and a
  preflight runs the real extractor on every planned page: each must yield exactly its meeting, and each
  minister must resolve to one registry id in every language, or the soak does not start (so "lost" below
  is lost by the pipeline, not misread). Every site also has one older release that is no meeting.
* **The stack**: a fresh Postgres database migrated by Alembic; the own Redis (no persistence); ``--workers``
  Celery worker processes (threads pool) on every queue; ``communique beat`` (dispatch every 5 s, relay every
  2 s); ``communique relay`` every ``--cli-relay-every`` s as an outside cron job would run it, racing the
  beat's relay for the same rows; one alert rule (foreign ministers and up: every planned meeting) sending
  signed webhooks to a local receiver that verifies each one (``services.alerts.verify``).
* **Chaos** (unless ``--no-chaos``; times drawn from ``--seed``): a worker is SIGKILLed every ``--kill-every``
  s on average and a replacement started; once, near the middle, Redis is SIGKILLed and started again empty
  on the same port after ``--redis-down`` s, so every queued and unacknowledged message is gone and the
  next poll slot, the stalled-document sweep and the relay's leases must recover the work.

Settings shortened so that recovery fits in minutes (each a ``COMMUNIQUE_`` setting): sources poll every
60 s (the shortest interval a source may have), ``STALE_AFTER_S`` 30, ``RELAY_LEASE_S`` 30,
``VISIBILITY_TIMEOUT_S`` 180 with task time limits 60/90 s.

After publishing stops the soak waits (at most ``--drain`` s) for the pipeline to settle, then prints the
end-to-end latency percentiles (first publication of a meeting -> its row in the database, and -> its
webhook received) and the counts: ``published`` distinct meetings, ``stored`` of them found in the database,
``lost`` (published, not stored), ``duplicated`` (extra meeting rows for one published meeting, plus extra
documents for one release URL), ``alerts_expected`` (published meetings the rule matches), ``alerts_sent``
(distinct (rule, meeting) pairs received). A webhook-id delivered again (receivers deduplicate it) is
reported apart from a duplicate alert (two webhook-ids for one rule and published meeting).

The last line is exactly ``published=N stored=N lost=N duplicated=N alerts_expected=N alerts_sent=N``. The
exit status is 1 when anything was lost or duplicated, an alert is missing or duplicated, or a meeting
appeared that nobody published. ``--keep-db`` keeps the database and the logs (in a temp dir).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
RULE = "soak-ministers"
POLL_S = 60  # the smallest interval a source definition allows

# --------------------------------------------------------------------------- the states


@dataclass(frozen=True)
class State:
    code: str
    en: str  # "Minister of Foreign Affairs of {en}"
    ru: str  # genitive: "министр иностранных дел {ru}"
    zh: str
    fm_en: str  # the foreign minister, as the office-holder registry spells the name
    fm_ru: str
    fm_zh: str
    city_en: str
    city_ru: str  # nominative (dateline)
    city_ru_in: str  # prepositional: "в {city_ru_in}"
    city_zh: str


def _s(line: str) -> State:
    return State(*[part.strip() for part in line.split("/")])


# code / en / ru (genitive) / zh / minister en / ru / zh / capital en / ru / ru prepositional / zh
STATES = [
    _s(line)
    for line in """
ARM / Armenia / Армении / 亚美尼亚 / Ararat Mirzoyan / Арарат Мирзоян / 米尔佐扬 /
    Yerevan / Ереван / Ереване / 埃里温
AUS / Australia / Австралии / 澳大利亚 / Penny Wong / Пенни Вонг / 黄英贤 /
    Canberra / Канберра / Канберре / 堪培拉
AZE / Azerbaijan / Азербайджана / 阿塞拜疆 / Jeyhun Bayramov / Джейхун Байрамов / 拜拉莫夫 /
    Baku / Баку / Баку / 巴库
BLR / Belarus / Белоруссии / 白俄罗斯 / Maxim Ryzhenkov / Максим Рыженков / 雷任科夫 /
    Minsk / Минск / Минске / 明斯克
BRA / Brazil / Бразилии / 巴西 / Mauro Vieira / Мауру Виейра / 维埃拉 /
    Brasilia / Бразилиа / Бразилиа / 巴西利亚
CAN / Canada / Канады / 加拿大 / Anita Anand / Анита Ананд / 阿南德 /
    Ottawa / Оттава / Оттаве / 渥太华
CHE / Switzerland / Швейцарии / 瑞士 / Ignazio Cassis / Иньяцио Кассис / 卡西斯 /
    Bern / Берн / Берне / 伯尔尼
CHN / China / Китая / 中国 / Wang Yi / Ван И / 王毅 /
    Beijing / Пекин / Пекине / 北京
DEU / Germany / Германии / 德国 / Johann Wadephul / Йоханн Вадефуль / 瓦德富尔 /
    Berlin / Берлин / Берлине / 柏林
DNK / Denmark / Дании / 丹麦 / Lars Løkke Rasmussen / Ларс Лёкке Расмуссен / 拉斯穆森 /
    Copenhagen / Копенгаген / Копенгагене / 哥本哈根
DZA / Algeria / Алжира / 阿尔及利亚 / Ahmed Attaf / Ахмед Аттаф / 阿塔夫 /
    Algiers / Алжир / Алжире / 阿尔及尔
EGY / Egypt / Египта / 埃及 / Badr Abdelatty / Бадр Абдель Аты / 阿卜杜勒阿蒂 /
    Cairo / Каир / Каире / 开罗
ESP / Spain / Испании / 西班牙 / José Manuel Albares / Хосе Мануэль Альбарес / 阿尔瓦雷斯 /
    Madrid / Мадрид / Мадриде / 马德里
FRA / France / Франции / 法国 / Jean-Noël Barrot / Жан-Ноэль Барро / 巴罗 /
    Paris / Париж / Париже / 巴黎
GBR / the United Kingdom / Великобритании / 英国 / Yvette Cooper / Иветт Купер / 库珀 /
    London / Лондон / Лондоне / 伦敦
GEO / Georgia / Грузии / 格鲁吉亚 / Maka Botchorishvili / Мака Бочоришвили / 博乔里什维利 /
    Tbilisi / Тбилиси / Тбилиси / 第比利斯
HUN / Hungary / Венгрии / 匈牙利 / Péter Szijjártó / Петер Сийярто / 西雅尔托 /
    Budapest / Будапешт / Будапеште / 布达佩斯
IDN / Indonesia / Индонезии / 印度尼西亚 / Sugiono / Сугионо / 苏吉奥诺 /
    Jakarta / Джакарта / Джакарте / 雅加达
IND / India / Индии / 印度 / S. Jaishankar / Субраманьям Джайшанкар / 苏杰生 /
    New Delhi / Нью-Дели / Нью-Дели / 新德里
IRN / Iran / Ирана / 伊朗 / Abbas Araghchi / Аббас Аракчи / 阿拉格齐 /
    Tehran / Тегеран / Тегеране / 德黑兰
IRQ / Iraq / Ирака / 伊拉克 / Fuad Hussein / Фуад Хусейн / 福阿德·侯赛因 /
    Baghdad / Багдад / Багдаде / 巴格达
ITA / Italy / Италии / 意大利 / Antonio Tajani / Антонио Таяни / 塔亚尼 /
    Rome / Рим / Риме / 罗马
JOR / Jordan / Иордании / 约旦 / Ayman Safadi / Айман Сафади / 萨法迪 /
    Amman / Амман / Аммане / 安曼
JPN / Japan / Японии / 日本 / Toshimitsu Motegi / Тосимицу Мотэги / 茂木敏充 /
    Tokyo / Токио / Токио / 东京
KAZ / Kazakhstan / Казахстана / 哈萨克斯坦 / Yermek Kosherbayev / Ермек Кошербаев / 科舍尔巴耶夫 /
    Astana / Астана / Астане / 阿斯塔纳
KGZ / Kyrgyzstan / Киргизии / 吉尔吉斯斯坦 / Jeenbek Kulubaev / Жээнбек Кулубаев / 库卢巴耶夫 /
    Bishkek / Бишкек / Бишкеке / 比什凯克
MAR / Morocco / Марокко / 摩洛哥 / Nasser Bourita / Насер Бурита / 布里达 /
    Rabat / Рабат / Рабате / 拉巴特
MEX / Mexico / Мексики / 墨西哥 / Juan Ramón de la Fuente / Хуан Рамон де ла Фуэнте / 德拉富恩特 /
    Mexico City / Мехико / Мехико / 墨西哥城
MNG / Mongolia / Монголии / 蒙古国 / Batmunkh Battsetseg / Батмөнхийн Батцэцэг / 巴特策策格 /
    Ulaanbaatar / Улан-Батор / Улан-Баторе / 乌兰巴托
MYS / Malaysia / Малайзии / 马来西亚 / Mohamad Hasan / Мохамад Хасан / 穆罕默德·哈桑 /
    Kuala Lumpur / Куала-Лумпур / Куала-Лумпуре / 吉隆坡
NZL / New Zealand / Новой Зеландии / 新西兰 / Winston Peters / Уинстон Питерс / 皮特斯 /
    Wellington / Веллингтон / Веллингтоне / 惠灵顿
PAK / Pakistan / Пакистана / 巴基斯坦 / Ishaq Dar / Исхак Дар / 达尔 /
    Islamabad / Исламабад / Исламабаде / 伊斯兰堡
POL / Poland / Польши / 波兰 / Radosław Sikorski / Радослав Сикорский / 西科尔斯基 /
    Warsaw / Варшава / Варшаве / 华沙
RUS / Russia / России / 俄罗斯 / Sergey Lavrov / Сергей Лавров / 拉夫罗夫 /
    Moscow / Москва / Москве / 莫斯科
SGP / Singapore / Сингапура / 新加坡 / Vivian Balakrishnan / Вивиан Балакришнан / 维文 /
    Singapore / Сингапур / Сингапуре / 新加坡
SRB / Serbia / Сербии / 塞尔维亚 / Marko Đurić / Марко Джурич / 久里奇 /
    Belgrade / Белград / Белграде / 贝尔格莱德
SVN / Slovenia / Словении / 斯洛文尼亚 / Tanja Fajon / Таня Файон / 法永 /
    Ljubljana / Любляна / Любляне / 卢布尔雅那
TKM / Turkmenistan / Туркменистана / 土库曼斯坦 / Rashid Meredov / Рашид Мередов / 梅列多夫 /
    Ashgabat / Ашхабад / Ашхабаде / 阿什哈巴德
TUR / Türkiye / Турции / 土耳其 / Hakan Fidan / Хакан Фидан / 费丹 /
    Ankara / Анкара / Анкаре / 安卡拉
UKR / Ukraine / Украины / 乌克兰 / Andrii Sybiha / Андрей Сибига / 西比加 /
    Kyiv / Киев / Киеве / 基辅
USA / the United States / США / 美国 / Marco Rubio / Марко Рубио / 鲁比奥 /
    Washington / Вашингтон / Вашингтоне / 华盛顿
UZB / Uzbekistan / Узбекистана / 乌兹别克斯坦 / Bakhtiyor Saidov / Бахтиёр Саидов / 赛义多夫 /
    Tashkent / Ташкент / Ташкенте / 塔什干
ZAF / South Africa / ЮАР / 南非 / Ronald Lamola / Рональд Ламола / 拉莫拉 /
    Pretoria / Претория / Претории / 比勒陀利亚
""".replace("/\n    ", "/ ")
    .strip()
    .splitlines()
]
STATE = {s.code: s for s in STATES}
RUSSIAN = {"RUS", "KAZ", "KGZ", "TKM", "UZB", "ARM", "AZE", "BLR"}  # their sites alternate ru / en
CHINESE = {"CHN"}  # alternates zh / en

EN_MONTHS = "January February March April May June July August September October November December".split()
RU_MONTHS = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()

NOTICE = {
    "en": (
        "Consular section: opening hours during the holidays",
        "The consular section of the Ministry of Foreign Affairs will be closed on public holidays. "
        "Applicants are advised to submit their documents in advance.",
    ),
    "ru": (
        "О режиме работы консульского отдела в праздничные дни",
        "Консульский отдел Министерства иностранных дел не будет принимать посетителей в праздничные дни. "
        "Заявителям рекомендуется подавать документы заблаговременно.",
    ),
    "zh": ("领事司节假日办公时间安排", "外交部领事司节假日期间暂停对外办公，请申请人提前安排递交材料。"),
}


def release(lang: str, own: State, other: State, host: State, day: date) -> tuple[str, list[str]]:
    """Title and paragraphs of one ministry release reporting the talks of ``own``'s and ``other``'s foreign
    ministers in ``host``'s capital on ``day``."""
    if lang == "ru":
        when = f"{day.day} {RU_MONTHS[day.month - 1]} {day.year} года"
        return (
            f"{own.fm_ru} и {other.fm_ru} провели переговоры",
            [
                f"{host.city_ru.upper()}, {when}. Министр иностранных дел {own.ru} {own.fm_ru} и министр "
                f"иностранных дел {other.ru} {other.fm_ru} провели переговоры в {host.city_ru_in}.",
                "Стороны обсудили вопросы двустороннего сотрудничества в торгово-экономической и "
                "транспортной сферах, а также актуальные международные вопросы.",
            ],
        )
    if lang == "zh":
        return (
            f"{own.fm_zh}同{other.zh}外长{other.fm_zh}举行会谈",
            [
                f"{day.year}年{day.month}月{day.day}日，外交部长{own.fm_zh}在{host.city_zh}同{other.zh}外长"
                f"{other.fm_zh}举行会谈。",
                "双方就双边关系以及共同关心的国际和地区问题交换了意见。",
            ],
        )
    when = f"{day.day} {EN_MONTHS[day.month - 1]} {day.year}"
    return (
        f"Foreign Minister {own.fm_en} held talks with {other.fm_en}",
        [
            f"{host.city_en.upper()}, {when}. Minister of Foreign Affairs of {own.en} {own.fm_en} held talks "
            f"with Minister of Foreign Affairs of {other.en} {other.fm_en} in {host.city_en} on {when}.",
            "The sides discussed bilateral cooperation in trade, energy and transport, as well as current "
            "international issues.",
        ],
    )


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Site:
    index: int
    state: State
    language: str
    kind: str  # rss | html_list

    @property
    def id(self) -> str:
        return f"soak-{self.index:03d}-{self.state.code.lower()}"


@dataclass
class Meeting:
    index: int
    parties: tuple[str, str]  # sorted ISO3 codes
    day: date
    host: str

    @property
    def key(self) -> tuple[str, str]:
        return ("|".join(self.parties), self.day.isoformat())


@dataclass
class Item:
    site: int
    seq: int  # per site, in publication order (0 = the older notice)
    at: float  # seconds after the world's start (negative: published before it)
    meeting: int | None  # index into Plan.meetings; None for the notice
    title: str
    paragraphs: list[str]

    @property
    def path(self) -> str:
        return f"/s/{self.site}/a/{self.seq}.html"


@dataclass
class Plan:
    sites: list[Site]
    meetings: list[Meeting]
    items: list[Item]
    by_site: dict[int, list[Item]]


def make_plan(
    rng: random.Random, n_sites: int, window_s: float, interval_s: float, both_sides: float, today: date
) -> Plan:
    states = STATES[: min(len(STATES), n_sites)]
    sites: list[Site] = []
    seen: Counter[str] = Counter()
    for i in range(n_sites):
        st = states[i % len(states)]
        k = seen[st.code]
        seen[st.code] += 1
        lang = "en"
        if st.code in RUSSIAN and k % 2 == 0:
            lang = "ru"
        elif st.code in CHINESE and k % 2 == 0:
            lang = "zh"
        sites.append(Site(i, st, lang, "html_list" if i % 5 == 4 else "rss"))
    sites_of: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        sites_of[s.state.code].append(s)
    codes = sorted(sites_of)

    meetings: list[Meeting] = []
    pair_days: dict[tuple[str, str], list[date]] = defaultdict(list)
    reports: list[tuple[float, int, int]] = []  # (at, site index, meeting index)

    def new_meeting(own: str) -> Meeting | None:
        for _ in range(200):
            other = rng.choice(codes)
            if other == own:
                continue
            a, b = sorted((own, other))
            parties = (a, b)
            day = today - timedelta(days=rng.randint(0, 12))
            # Three days apart: the merge joins the same parties one day apart, never three.
            if any(abs((day - d).days) < 3 for d in pair_days[parties]):
                continue
            pair_days[parties].append(day)
            m = Meeting(len(meetings), parties, day, rng.choice(parties))
            meetings.append(m)
            return m
        return None

    for site in sites:
        t = rng.uniform(0, interval_s)
        while t < window_s:
            m = new_meeting(site.state.code)
            if m is None:
                break
            reports.append((t, site.index, m.index))
            if rng.random() < both_sides:
                other = m.parties[1] if m.parties[0] == site.state.code else m.parties[0]
                later = t + rng.uniform(3, 90)
                if later < window_s:
                    reports.append((later, rng.choice(sites_of[other]).index, m.index))
            t += rng.expovariate(1 / interval_s)

    by_site: dict[int, list[Item]] = {}
    items: list[Item] = []
    for site in sites:
        notice_title, notice = NOTICE[site.language]
        by_site[site.index] = [Item(site.index, 0, -86400.0, None, notice_title, [notice])]
    for at, si, mi in sorted(reports):
        site = sites[si]
        m = meetings[mi]
        own = site.state
        partner = STATE[m.parties[1] if m.parties[0] == own.code else m.parties[0]]
        title, paras = release(site.language, own, partner, STATE[m.host], m.day)
        lst = by_site[si]
        lst.append(Item(si, len(lst), at, mi, title, paras))
    for lst in by_site.values():
        items.extend(lst)
    return Plan(sites, meetings, items, by_site)


# --------------------------------------------------------------------------- the world server


def article_html(site: Site, item: Item, published: datetime) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
    return (
        f'<!doctype html><html lang="{site.language}"><head><meta charset="utf-8">'
        f"<title>{escape(site.state.en)} MFA</title></head><body>"
        f'<nav><a href="/s/{site.index}/">Home</a> · <a href="/s/{site.index}/news/">Press</a></nav>'
        f'<article><h1 class="title">{escape(item.title)}</h1>'
        f'<time class="published" datetime="{published.isoformat()}">{published.date().isoformat()}</time>'
        f'<div class="text">{body}</div></article><footer>Ministry of Foreign Affairs</footer></body></html>'
    ).encode()


class World:
    """The sites of a plan, served as of the wall clock: an item is visible from ``start + item.at`` on."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.start = time.time() + 3600  # nothing but the notices is visible until ``begin``
        self.base = ""
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    def begin(self) -> None:
        self.start = time.time()

    def published_at(self, item: Item) -> float:
        return self.start + item.at

    def visible(self, site: int, now: float) -> list[Item]:
        return [i for i in self.plan.by_site[site] if self.start + i.at <= now]

    def feed(self, site: Site, items: list[Item]) -> tuple[bytes, str]:
        if site.kind == "html_list":
            rows = "".join(
                f'<li><a href="/s/{site.index}/a/{i.seq}.html">{escape(i.title)}</a> '
                f'<span class="date">{self._when(i).strftime("%d.%m.%Y")}</span></li>'
                for i in reversed(items[-30:])
            )
            page = (
                f'<!doctype html><html><head><meta charset="utf-8"><title>Press</title></head><body>'
                f'<ul class="news">{rows}</ul></body></html>'
            )
            return page.encode(), "text/html; charset=utf-8"
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{self.base}{i.path}</link>"
            f"<guid>{site.id}-{i.seq}</guid><pubDate>{format_datetime(self._when(i), usegmt=True)}</pubDate>"
            "</item>"
            for i in reversed(items[-30:])
        )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(site.state.en)} MFA</title><link>{self.base}/s/{site.index}/</link>"
            f"<description>Press releases</description>{entries}</channel></rss>"
        )
        return xml.encode(), "application/rss+xml; charset=utf-8"

    def _when(self, item: Item) -> datetime:
        return datetime.fromtimestamp(self.published_at(item), UTC).replace(microsecond=0)


def world_handler(world: World) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _send(
            self, status: int, body: bytes = b"", ctype: str = "", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            now = time.time()
            path = self.path.split("?", 1)[0]
            parts = path.strip("/").split("/")
            with world.lock:
                world.requests[parts[0] if parts else ""] += 1
            if path == "/robots.txt":
                self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
                return
            if len(parts) < 2 or parts[0] != "s" or not parts[1].isdigit():
                self._send(404)
                return
            idx = int(parts[1])
            if idx >= len(world.plan.sites):
                self._send(404)
                return
            site = world.plan.sites[idx]
            items = world.visible(idx, now)
            if parts[2:] in (["feed.xml"], ["news"]):
                etag = f'"{idx}-{len(items)}"'
                modified = format_datetime(world._when(items[-1]), usegmt=True)
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                fresh = inm == etag if inm is not None else ims is not None and _not_after(modified, ims)
                validators = {"ETag": etag, "Last-Modified": modified}
                if fresh:
                    self._send(304, headers=validators)
                    return
                body, ctype = world.feed(site, items)
                self._send(200, body, ctype, validators)
                return
            if len(parts) == 4 and parts[2] == "a" and parts[3].endswith(".html"):
                seq = parts[3][:-5]
                if seq.isdigit() and int(seq) < len(items):
                    item = items[int(seq)]
                    self._send(200, article_html(site, item, world._when(item)), "text/html; charset=utf-8")
                    return
            self._send(404)

    return Handler


def _not_after(modified: str, since: str) -> bool:
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- preflight


def source_defs(plan: Plan, base: str) -> list[Any]:
    from services.fetcher.sources import SourceDef

    defs = []
    for s in plan.sites:
        extra: dict[str, Any] = {}
        if s.kind == "html_list":
            extra["list"] = {"item": "ul.news li a", "date": "span.date"}
        defs.append(
            SourceDef.model_validate(
                {
                    "id": s.id,
                    "name": f"Ministry of Foreign Affairs of {s.state.en} ({s.language}, soak)",
                    "country": s.state.code,
                    "language": s.language,
                    "kind": s.kind,
                    "url": f"{base}/s/{s.index}/" + ("news/" if s.kind == "html_list" else "feed.xml"),
                    "interval": POLL_S,
                    "min_interval": POLL_S,
                    "max_interval": POLL_S,
                    "host_spacing": 0,
                    "article": {"title": "h1.title", "body": "div.text", "date": "time.published"},
                    **extra,
                }
            )
        )
    return defs


def parties_of(record: dict[str, Any]) -> str:
    return "|".join(sorted({p["country"] for p in record.get("participants") or [] if p.get("country")}))


def preflight(plan: Plan, defs: list[Any], rules: list[Any]) -> set[int]:
    """Run the extractor on every planned page (as it will be served, published now): each release must yield
    exactly its meeting, held, and each notice nothing. Returns the meetings the alert rules match."""
    from services.alerts.rules import matches
    from services.parser.article import extract_article
    from services.parser.extract import extract_meetings, record_for

    problems: list[str] = []
    alerting: set[int] = set()
    # who each state's minister resolved to, by language: the merge keeps apart reports naming different
    # registry ids for one side, so every spelling must resolve to the same person
    people: dict[str, dict[str | None, set[str]]] = defaultdict(lambda: defaultdict(set))
    now = datetime.now(UTC).replace(microsecond=0)
    for item in plan.items:
        site = plan.sites[item.site]
        src = defs[item.site]
        article = extract_article(
            article_html(site, item, now),
            url=f"http://127.0.0.1{item.path}",
            selectors=src.article,
            title=item.title,
            published=now.date(),
            language=src.language,
            publisher=src.name,
            source_country=src.country,
        )
        records = [record_for(c, article) for c in extract_meetings(article)]
        if item.meeting is None:
            if records:
                problems.append(f"{item.path} ({site.language}): the notice yields {len(records)} meeting(s)")
            continue
        m = plan.meetings[item.meeting]
        got = [(parties_of(r), r.get("date"), r.get("status")) for r in records]
        if got != [(*m.key, "held")]:
            problems.append(f"{item.path} ({site.language}) {item.paragraphs[0]!r}: want {m.key}, got {got}")
            continue
        if any(matches(rule, records[0]) for rule in rules):
            alerting.add(m.index)
        for p in records[0].get("participants") or []:
            people[p.get("country") or "?"][p.get("person_id")].add(
                f"{site.language}:{p.get('name_as_printed')}"
            )
    for state, ids in sorted(people.items()):
        if len(ids) != 1 or None in ids:
            problems.append(f"{state}: the minister resolves to {len(ids)} registry ids: {dict(ids)}")
    if problems:
        raise SystemExit(
            "preflight: the extractor does not read these planned pages as planned:\n  "
            + "\n  ".join(problems[:40])
        )
    return alerting


# --------------------------------------------------------------------------- the webhook receiver


@dataclass
class Receiver:
    secret: str
    verifier: Any
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    # webhook-id -> (arrival, event) of the first authentic request with that id
    events: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    redelivered: int = 0
    rejected: list[str] = field(default_factory=list)


def receiver_handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    from services.alerts.verify import ReplayedWebhook, WebhookVerificationError

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            arrived = time.time()
            status = 204
            with rx.lock:
                try:
                    event = rx.verifier.verify(self.headers.items(), body)
                    rx.events[self.headers["webhook-id"]] = (arrived, event)
                except ReplayedWebhook:
                    rx.redelivered += 1
                    status = 200
                except WebhookVerificationError as exc:
                    rx.rejected.append(type(exc).__name__)
                    status = 401
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    return Handler


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def log(msg: str, t0: float | None = None) -> None:
    stamp = f"[{time.time() - t0:6.1f}s] " if t0 else ""
    print(stamp + msg, flush=True)


class Stack:
    """Postgres database, own Redis, Celery workers, beat and the cron-like relay; every process is ours."""

    def __init__(self, tmp: Path, workers: int, threads: int, settings_env: dict[str, str]) -> None:
        self.tmp = tmp
        self.n_workers = workers
        self.threads = threads
        self.redis_port = free_port()
        self.redis: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.beat: subprocess.Popen[bytes] | None = None
        self.admin: Any = None
        self.dbname = ""
        self.db_url = ""
        self.env: dict[str, str] = {}
        self.settings_env = settings_env
        self.spawned = 0
        self.killed = 0
        self.relay_runs: Counter[str] = Counter()
        self._stop = threading.Event()
        self._relay_thread: threading.Thread | None = None
        self._files: list[BinaryIO] = []

    def _log(self, name: str) -> BinaryIO:
        """A log file in the temp dir for a child process (closed by ``stop``)."""
        f = open(self.tmp / name, "ab")  # noqa: SIM115 - closed by stop()
        self._files.append(f)
        return f

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # -- Postgres
    def create_db(self) -> None:
        import psycopg

        for user in ("postgres", "root"):
            try:
                self.admin = psycopg.connect(host="127.0.0.1", user=user, dbname="postgres", autocommit=True)
                break
            except psycopg.Error:
                continue
        else:
            raise SystemExit("Postgres on 127.0.0.1:5432 is not reachable")
        self.dbname = f"communique_soak_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{self.dbname}"')
        self.db_url = f"postgresql+psycopg://{user}@127.0.0.1:5432/{self.dbname}"

    def drop_db(self) -> None:
        if self.admin is not None and self.dbname:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            self.admin.close()

    # -- Redis
    def start_redis(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise SystemExit("redis-server is not installed")
        log_file = self._log("redis.log")
        self.redis = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
                "--daemonize",
                "no",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("our redis-server did not answer PING in 20 s")

    def kill_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.send_signal(signal.SIGKILL)
            self.redis.wait(10)

    # -- Celery
    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
        env.update(
            COMMUNIQUE_DATABASE_URL=self.db_url,
            COMMUNIQUE_BROKER_URL=self.redis_url,
            PYTHONPATH=str(ROOT),
            **self.settings_env,
        )
        return env

    def start_worker(self) -> subprocess.Popen[bytes]:
        self.spawned += 1
        log_file = self._log(f"worker{self.spawned}.log")
        proc = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "services.core.celery_app",
                "worker",
                "-Q",
                "fetch,parse,store,notify",
                "--pool=threads",
                f"--concurrency={self.threads}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                f"--hostname=soak{self.spawned}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def wait_ready(self, n: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = sum(
                1
                for i in range(1, self.spawned + 1)
                if b" ready." in (self.tmp / f"worker{i}.log").read_bytes()
            )
            if ready >= n:
                return
            time.sleep(0.3)
        raise SystemExit(f"the Celery workers were not ready in {timeout:.0f} s (logs in {self.tmp})")

    def kill_worker(self, rng: random.Random) -> int | None:
        live = self.live_workers()
        if not live:
            return None
        victim = rng.choice(live)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        self.killed += 1
        return victim.pid

    def start_beat(self) -> None:
        log_file = self._log("beat.log")
        self.beat = subprocess.Popen(
            [str(BIN / "communique"), "beat"],
            cwd=self.tmp,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )

    def start_cli_relay(self, every: float) -> None:
        """``communique relay`` every ``every`` seconds, as a cron job would run it."""

        def loop() -> None:
            with open(self.tmp / "cli-relay.log", "ab") as log_file:
                while not self._stop.wait(every):
                    proc = subprocess.run(
                        [str(BIN / "communique"), "relay"],
                        cwd=self.tmp,
                        env=self.env,
                        stdout=log_file,
                        stderr=subprocess.PIPE,
                        timeout=120,
                        check=False,
                    )
                    log_file.write(proc.stderr)
                    self.relay_runs["runs"] += 1
                    try:
                        outcomes = json.loads(proc.stderr.decode().strip().splitlines()[-1])
                        self.relay_runs.update({str(k): int(v) for k, v in outcomes.items()})
                    except (ValueError, IndexError, AttributeError):
                        self.relay_runs["failed runs"] += 1

        if every > 0:
            self._relay_thread = threading.Thread(target=loop, daemon=True)
            self._relay_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._relay_thread is not None:
            self._relay_thread.join(130)
        procs = [p for p in [*self.workers, self.beat] if p is not None and p.poll() is None]
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.kill_redis()
        for f in self._files:
            f.close()


def stagger(db_url: str, rng: random.Random, t0: float) -> None:
    """Spread the sources' first polls over one interval: sources added at one moment would otherwise be
    polled in lock-step for ever (their next check is always one interval after the same dispatch tick)."""
    from sqlalchemy import select

    from services.core.db import session_factory
    from services.store.models import SourceRow

    with session_factory(db_url)() as s:
        for row in s.scalars(select(SourceRow).order_by(SourceRow.id)):
            row.next_check_at = datetime.fromtimestamp(t0 + rng.uniform(0, POLL_S), UTC)
        s.commit()


# --------------------------------------------------------------------------- chaos


def chaos(
    stack: Stack,
    rng: random.Random,
    window_s: float,
    kill_every: float,
    redis_down: float,
    t0: float,
    stop: threading.Event,
    events: list[str],
) -> None:
    """SIGKILL a worker at random times (and start a replacement); once, restart Redis empty."""
    plan: list[tuple[float, str]] = []
    t = 10 + rng.expovariate(1 / kill_every)
    while t < window_s - 5:
        plan.append((t, "kill"))
        t += rng.expovariate(1 / kill_every)
    plan.append((window_s * rng.uniform(0.35, 0.65), "redis"))
    plan.sort()
    for at, what in plan:
        if stop.wait(max(0.0, t0 + at - time.time())):
            return
        if what == "kill":
            pid = stack.kill_worker(rng)
            stack.start_worker()
            msg = f"chaos: SIGKILL worker pid {pid}, replacement started"
        else:
            stack.kill_redis()
            log(f"chaos: SIGKILL redis-server (port {stack.redis_port}), down for {redis_down:.0f} s", t0)
            if stop.wait(redis_down):
                return
            stack.start_redis()
            msg = "chaos: redis-server started again (empty: no persistence)"
        events.append(msg)
        log(msg, t0)


# --------------------------------------------------------------------------- measuring


@dataclass
class Snapshot:
    meetings: list[tuple[str, str, str, float]]  # (id, parties, date, created epoch)
    documents: dict[str, int]  # status -> n
    unfinished_docs: int
    doc_urls: Counter[str]
    deliveries: dict[str, int]
    dead_letters: int
    dead_letter_samples: list[str]


def snapshot(db_url: str) -> Snapshot:
    from sqlalchemy import func, select

    from services.core.db import session_factory
    from services.store.models import DeadLetterRow, DeliveryRow, DocumentRow, MeetingRow

    with session_factory(db_url)() as s:
        meetings = [
            (str(i), str(p), d.isoformat() if d else "", c.timestamp())
            for i, p, d, c in s.execute(
                select(MeetingRow.id, MeetingRow.parties, MeetingRow.date, MeetingRow.created_at).where(
                    MeetingRow.retracted_at.is_(None)
                )
            )
        ]
        docs = {
            str(k): int(n)
            for k, n in s.execute(select(DocumentRow.status, func.count()).group_by(DocumentRow.status))
        }
        unfinished = int(
            s.scalar(
                select(func.count())
                .select_from(DocumentRow)
                .where(
                    (DocumentRow.status == "pending")
                    | ((DocumentRow.status == "fetched") & (DocumentRow.parse_status == "pending"))
                    | (
                        (DocumentRow.status == "fetched")
                        & (DocumentRow.parse_status == "ok")
                        & DocumentRow.stored_at.is_(None)
                    )
                )
            )
            or 0
        )
        urls: Counter[str] = Counter(str(u).split("/s/", 1)[-1] for u in s.scalars(select(DocumentRow.url)))
        deliveries = {
            str(k): int(n)
            for k, n in s.execute(select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status))
        }
        dead = s.scalars(select(DeadLetterRow).order_by(DeadLetterRow.id)).all()
        samples = [f"{d.task_name}{d.args}: {d.error[:160]}" for d in dead[:8]]
        return Snapshot(meetings, docs, unfinished, urls, deliveries, len(dead), samples)


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    v = sorted(values)

    def pct(p: float) -> float:
        return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]

    return f"p50={pct(50):.1f}s p95={pct(95):.1f}s p99={pct(99):.1f}s max={v[-1]:.1f}s (n={len(v)})"


@dataclass
class Result:
    published: int
    stored: int
    lost: int
    duplicated: int
    unexpected: int
    alerts_expected: int
    alerts_sent: int
    duplicate_alerts: int
    lines: list[str]

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.unexpected == 0
            and self.duplicate_alerts == 0
            and self.alerts_sent == self.alerts_expected
        )

    def final_line(self) -> str:
        return (
            f"published={self.published} stored={self.stored} lost={self.lost} duplicated={self.duplicated} "
            f"alerts_expected={self.alerts_expected} alerts_sent={self.alerts_sent}"
        )


def evaluate(
    plan: Plan, world: World, published: set[int], alerting: set[int], snap: Snapshot, rx: Receiver
) -> Result:
    first_pub: dict[tuple[str, str], float] = {}
    reports: Counter[int] = Counter()
    now = time.time()
    for item in plan.items:
        if item.meeting is not None and item.meeting in published and world.published_at(item) <= now:
            key = plan.meetings[item.meeting].key
            first_pub[key] = min(first_pub.get(key, math.inf), world.published_at(item))
            reports[item.meeting] += 1
    expected_keys = {plan.meetings[i].key for i in published}
    rows: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    unexpected = 0
    for mid, parties, day, created in snap.meetings:
        if (parties, day) in expected_keys:
            rows[(parties, day)].append((mid, created))
        else:
            unexpected += 1
    stored = sum(1 for k in expected_keys if rows.get(k))
    extra_rows = sum(len(v) - 1 for v in rows.values() if len(v) > 1)
    published_paths = {
        item.path.split("/s/", 1)[-1] for item in plan.items if world.published_at(item) <= time.time()
    }
    extra_docs = sum(n - 1 for u, n in snap.doc_urls.items() if n > 1 and u in published_paths)

    # alerts: distinct (rule, meeting row) pairs; per (rule, published meeting) the distinct webhook-ids, so
    # that two rows of one meeting alerting twice count as a duplicate alert too
    by_rule_meeting: set[tuple[str, Any]] = set()
    by_rule_published: dict[tuple[str, Any], set[str]] = defaultdict(set)
    alert_at: dict[tuple[str, str], float] = {}
    stray = 0
    with rx.lock:
        received = list(rx.events.items())
    for wid, (arrived, event) in received:
        meeting = (event.get("data") or {}).get("meeting") or {}
        key = (parties_of(meeting), str(meeting.get("date")))
        if key not in expected_keys:
            stray += 1
        for rule in (event.get("data") or {}).get("rules") or []:
            by_rule_meeting.add((rule, meeting.get("id") or key))
            by_rule_published[(rule, key if key in expected_keys else meeting.get("id"))].add(wid)
        alert_at[key] = min(alert_at.get(key, math.inf), arrived)
    alerts_sent = len(by_rule_meeting)
    duplicate_alerts = sum(len(ids) - 1 for ids in by_rule_published.values())
    stored_latency = [
        min(c for _, c in rows[k]) - first_pub[k] for k in expected_keys if rows.get(k) and k in first_pub
    ]
    alert_latency = [alert_at[k] - first_pub[k] for k in expected_keys if k in alert_at and k in first_pub]
    both = sum(1 for n in reports.values() if n > 1)
    lines = [
        f"latency publish -> stored meeting: {percentiles(stored_latency)}",
        f"latency publish -> webhook received: {percentiles(alert_latency)}",
        f"meetings: {len(published)} published ({both} reported by both sides), {len(snap.meetings)} rows, "
        f"{extra_rows} extra rows, {unexpected} not published by anyone",
        f"documents: {dict(snap.documents)}, {extra_docs} extra for one release URL, "
        f"{snap.unfinished_docs} unfinished",
        f"deliveries: {dict(snap.deliveries)}; webhooks: {len(rx.events)} distinct ids, {rx.redelivered} "
        f"redelivered ids (deduplicated by the receiver), {duplicate_alerts} duplicate alerts, {stray} for "
        f"unpublished meetings, {len(rx.rejected)} rejected signatures",
        f"dead letters: {snap.dead_letters}" + "".join(f"\n    {s}" for s in snap.dead_letter_samples),
    ]
    return Result(
        published=len(published),
        stored=stored,
        lost=len(expected_keys) - stored,
        duplicated=extra_rows + extra_docs,
        unexpected=unexpected,
        alerts_expected=len(alerting & published),
        alerts_sent=alerts_sent,
        duplicate_alerts=duplicate_alerts + stray,
        lines=lines,
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=5.0, help="publishing (and chaos) time")
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4, help="threads per worker process")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-chaos", action="store_true")
    ap.add_argument("--keep-db", action="store_true", help="keep the database and the logs")
    ap.add_argument("--interval", type=float, default=90.0, help="mean seconds between a site's releases")
    ap.add_argument(
        "--both-sides", type=float, default=0.3, help="share of meetings the other side reports too"
    )
    ap.add_argument("--kill-every", type=float, default=45.0, help="mean seconds between worker kills")
    ap.add_argument("--redis-down", type=float, default=5.0, help="seconds Redis stays down")
    ap.add_argument(
        "--cli-relay-every", type=float, default=20.0, help="seconds between `communique relay` runs (0: off)"
    )
    ap.add_argument(
        "--drain", type=float, default=150.0, help="longest wait for the pipeline to settle afterwards"
    )
    args = ap.parse_args(argv)
    if not 1 <= args.sources <= 2000 or args.minutes <= 0 or args.minutes > 120:
        ap.error("--sources must be 1..2000 and --minutes 0..120")

    from services.alerts.rules import parse_rules
    from services.alerts.signing import generate_secret
    from services.alerts.verify import Verifier
    from services.core import pipeline
    from services.core.db import dispose_engines
    from services.core.settings import Settings

    rng = random.Random(args.seed)
    chaos_rng = random.Random(f"{args.seed}-chaos")  # the same chaos whatever the plan draws
    window_s = args.minutes * 60
    today = datetime.now(UTC).date()
    plan = make_plan(rng, args.sources, window_s, args.interval, args.both_sides, today)
    world = World(plan)
    world_httpd, world.base = serve(world_handler(world))
    secret = generate_secret()
    rx = Receiver(secret=secret, verifier=Verifier([secret], tolerance=600, replay_ttl=7200))
    rx_httpd, rx.base = serve(receiver_handler(rx))
    rules_text = (
        "rules:\n"
        f"  - name: {RULE}\n"
        "    match: {level_at_least: foreign_minister}\n"
        "    channels:\n"
        f"      - webhook: {rx.base}/hooks/communique\n"
        f"        secret: {secret}\n"
    )
    rules = parse_rules(rules_text)
    defs = source_defs(plan, world.base)
    started = time.time()
    alerting = preflight(plan, defs, rules)
    n_reports = sum(1 for i in plan.items if i.meeting is not None)
    print(
        f"plan: {len(plan.sites)} sites of {len({s.state.code for s in plan.sites})} states "
        f"({sum(s.kind == 'html_list' for s in plan.sites)} listings; languages "
        f"{dict(Counter(s.language for s in plan.sites))}), {len(plan.meetings)} meetings in "
        f"{n_reports} releases "
        f"over {args.minutes:g} min; preflight: every page reads as planned ({time.time() - started:.1f} s)",
        flush=True,
    )

    tmp = Path(tempfile.mkdtemp(prefix="communique-soak-"))
    (tmp / "rules.yaml").write_text(rules_text)
    settings_env = {
        "COMMUNIQUE_ALLOW_PRIVATE_NETWORKS": "127.0.0.1/32",
        "COMMUNIQUE_HOST_SPACING_S": "0",
        "COMMUNIQUE_RULES": str(tmp / "rules.yaml"),
        "COMMUNIQUE_TICK_SECONDS": "5",
        "COMMUNIQUE_RELAY_INTERVAL_S": "2",
        "COMMUNIQUE_RELAY_LEASE_S": "30",
        "COMMUNIQUE_STALE_AFTER_S": "30",
        "COMMUNIQUE_VISIBILITY_TIMEOUT_S": "180",
        "COMMUNIQUE_TASK_SOFT_TIME_LIMIT_S": "60",
        "COMMUNIQUE_TASK_TIME_LIMIT_S": "90",
    }
    stack = Stack(tmp, args.workers, args.threads, settings_env)
    stop = threading.Event()
    chaos_events: list[str] = []
    result: Result | None = None
    try:
        stack.create_db()
        stack.start_redis()
        stack.env = stack.base_env()
        settings = Settings(database_url=stack.db_url, broker_url=stack.redis_url)
        pipeline.init_db(settings)
        pipeline.sync_sources(settings, defs)
        for _ in range(args.workers):
            stack.start_worker()
        stack.wait_ready(args.workers)
        world.begin()
        t0 = world.start
        stagger(stack.db_url, rng, t0)
        stack.start_beat()
        stack.start_cli_relay(args.cli_relay_every)
        log(
            f"stack up: db {stack.dbname}, redis :{stack.redis_port}, {args.workers} workers x "
            f"{args.threads} threads, beat, cli relay every {args.cli_relay_every:g} s; logs in {tmp}",
            t0,
        )
        chaos_thread = None
        if not args.no_chaos:
            chaos_thread = threading.Thread(
                target=chaos,
                args=(stack, chaos_rng, window_s, args.kill_every, args.redis_down, t0, stop, chaos_events),
                daemon=True,
            )
            chaos_thread.start()

        def progress() -> tuple[Snapshot, set[int]]:
            now = time.time()
            pub = {i.meeting for i in plan.items if i.meeting is not None and world.published_at(i) <= now}
            return snapshot(stack.db_url), pub

        next_report = 0.0
        while time.time() < t0 + window_s:
            time.sleep(1)
            if time.time() - t0 >= next_report:
                snap, pub = progress()
                log(
                    f"published {len(pub)} meetings; db: {len(snap.meetings)} meetings, "
                    f"docs {snap.documents}, "
                    f"deliveries {snap.deliveries}; webhooks {len(rx.events)}; workers alive "
                    f"{len(stack.live_workers())}",
                    t0,
                )
                next_report += 30
        stop.set()
        if chaos_thread is not None:
            chaos_thread.join(60)
        if stack.redis is None or stack.redis.poll() is not None:
            stack.start_redis()
        log("publishing stopped; draining", t0)
        deadline = time.time() + args.drain
        while True:
            snap, pub = progress()
            result = evaluate(plan, world, pub, alerting, snap, rx)
            settled = (
                result.lost == 0
                and snap.unfinished_docs == 0
                and snap.deliveries.get("pending", 0) == 0
                and result.alerts_sent >= result.alerts_expected
            )
            if settled or time.time() > deadline:
                break
            time.sleep(2)
        time.sleep(5)  # anything late (a second alert, a duplicate row) shows up now or not at all
        snap, pub = progress()
        result = evaluate(plan, world, pub, alerting, snap, rx)
        log(("settled" if settled else f"NOT settled after {args.drain:.0f} s of draining"), t0)
        print(
            f"chaos: {len(chaos_events)} events ({stack.killed} worker kills, "
            f"{sum('redis-server started' in e for e in chaos_events)} redis restarts); "
            f"cli relay outcomes {dict(stack.relay_runs)}; world requests {dict(world.requests)}"
        )
        for line in result.lines:
            print(line)
    finally:
        stop.set()
        stack.stop()
        world_httpd.shutdown()
        rx_httpd.shutdown()
        dispose_engines()
        if args.keep_db:
            print(f"kept database {stack.dbname} and logs in {tmp}", file=sys.stderr)
            if stack.admin is not None:
                stack.admin.close()
        else:
            stack.drop_db()
            shutil.rmtree(tmp, ignore_errors=True)
    if result is None:
        return 2
    print(result.final_line(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
