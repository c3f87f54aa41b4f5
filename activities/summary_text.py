"""Render the year's figures as the bureau's prose (Markdown), from editable templates.

The section is built as the seeds build theirs: a lead, then "一是…二是…三是…", each group opened
by its title and made of parts (a framing clause, then clauses joined by "，"), then a separate
paragraph of shortcomings (存在的不足). A clause whose figures are zero is left out, and with it
an empty part or group; "等" is written only when more exist than are named.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Callable
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

from models.summary import EventFigure, SummaryFigures

#: The template shipped with the package; ``YINGJI_SUMMARY_TEMPLATE_PATH`` points to an edited copy.
DEFAULT_TEMPLATES = Path(str(files("yingji.core") / "templates" / "year_end.toml"))

_DIGITS = "零一二三四五六七八九"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


def load_templates(path: Path | None = None) -> dict[str, Any]:
    """The packaged wording, with an edited copy's over it (a copy may leave keys out)."""
    with DEFAULT_TEMPLATES.open("rb") as f:
        packaged = tomllib.load(f)
    if path is None or path == DEFAULT_TEMPLATES:
        return packaged
    with path.open("rb") as f:
        return _merge(packaged, tomllib.load(f))


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 99 → 九十九 (ordinals of a list)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def join_names(names: list[str]) -> str:
    """甲、乙和丙 — the way the reports list things."""
    if len(names) <= 1:
        return "".join(names)
    return "、".join(names[:-1]) + "和" + names[-1]


def _percent(part: int, whole: int) -> str:
    value = round(100 * part / whole, 1)
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def _amount(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class _Writer:
    """The clauses of one summary: each returns its text, or "" when it has nothing to say."""

    def __init__(self, f: SummaryFigures, bureau: str, t: dict[str, Any]) -> None:
        self.f, self.t = f, t
        as_of = f.as_of or date(f.year, 12, 31)
        s = t["section"]
        whole_year = as_of == date(f.year, 12, 31)
        month_end = as_of.day == calendar.monthrange(as_of.year, as_of.month)[1]
        region = "市" if f.level == "city" else "区"
        self.vars: dict[str, Any] = {
            "year": f.year,
            "district": f.district,
            "bureau": bureau,
            "ben": f"本{region}",
            "quan": f"全{region}",
            "month": as_of.month,
            "day": as_of.day,
        }
        self.vars["voice"] = self.fmt(s["voice"])
        self.vars["since"] = self.fmt(s["since_year"] if whole_year else s["since_partial"])
        period = (
            s["period_year"]
            if whole_year
            else s["period_month_end"]
            if month_end
            else s["period_day"]
        )
        self.vars["period"] = self.fmt(period)

    def fmt(self, template: str, **extra: Any) -> str:
        return template.format(**{**self.vars, **extra})

    def item(self, n: int) -> str:
        return self.fmt(self.t["section"]["item"], n=chinese_number(n))

    # -- plans --

    def _named(self, topics: list[str], one: str, more: str, **extra: Any) -> str:
        if not topics:
            return ""
        shown = topics[: self.t["plans"]["max_names"]]
        key = more if len(topics) > len(shown) else one
        return self.fmt(self.t["plans"][key], topics="、".join(shown), n=len(topics), **extra)

    def _others(self, plans: list[Any], key: str) -> list[str]:
        counts: dict[str, int] = {}
        for p in plans:
            if p.kind != "special":
                counts[p.kind] = counts.get(p.kind, 0) + 1
        labels = self.t["labels"]
        return [
            self.fmt(self.t["plans"][key], n=n, label=labels.get(kind, kind))
            for kind, n in counts.items()
        ]

    def revisions_started(self) -> str:
        done = {(p.code, p.version) for p in self.f.revisions_completed_plans}
        plans = [p for p in self.f.revisions_started_plans if (p.code, p.version) not in done]
        topics = list(dict.fromkeys(p.topic for p in plans if p.kind == "special"))
        special = self._named(topics, "revisions_started", "revisions_started_more")
        return "，".join(x for x in [special, *self._others(plans, "revisions_started_other")] if x)

    def revisions_completed(self) -> str:
        f, p = self.f, self.t["plans"]
        plans = f.revisions_completed_plans
        city = [x for x in plans if x.kind == "special" and x.jlevel == "city"]
        city_codes = {x.code for x in city}
        parts = []
        standing = f.special_plans_by_jurisdiction.get("city", 0)
        if f.level == "city" and city and len(city_codes) == standing:
            parts.append(self.fmt(p["revisions_completed_all_city"], n=len(city_codes)))
            plans = [x for x in plans if x.code not in city_codes]
        topics = list(dict.fromkeys(x.topic for x in plans if x.kind == "special"))
        parts.append(self._named(topics, "revisions_completed", "revisions_completed_more"))
        parts.extend(self._others(plans, "revisions_completed_other"))
        return "，".join(x for x in parts if x)

    def _kinds(self, made: dict[str, int]) -> list[str]:
        p = self.t["plans"]
        parts = []
        special, departmental = made.get("special", 0), made.get("departmental", 0)
        if made.get("overall"):
            parts.append(self.fmt(p["overall"], n=made["overall"]))
        if special and departmental:
            parts.append(self.fmt(p["special_departmental"], n=special + departmental))
        elif special:
            parts.append(self.fmt(p["special"], n=special))
        elif departmental:
            parts.append(self.fmt(p["departmental"], n=departmental))
        if made.get("grassroots"):
            parts.append(self.fmt(p["grassroots"], n=made["grassroots"]))
        return parts

    def plans_made(self) -> str:
        f, p = self.f, self.t["plans"]
        if f.level != "city":
            parts = self._kinds(f.plans_made)
            return self.fmt(p["made"], made=join_names(parts)) if parts else ""
        # A city: its own overall plan and its districts' apart, then the other kinds together.
        out = []
        city = f.plans_made_by_jurisdiction.get("city", {}).get("overall", 0)
        districts = f.plans_made_by_jurisdiction.get("district", {}).get("overall", 0)
        every = bool(f.districts) and f.districts_overall_issued == len(f.districts)
        if (city or districts) and every and f.city_overall_issued:
            made = join_names(
                [
                    self.fmt(p["city_overall"], n=f.city_overall_issued),
                    self.fmt(p["district_overall"], n=f.districts_overall_issued),
                ]
            )
            out.append(self.fmt(p["overall_all_issued"], made=made))
        else:
            overall = [
                self.fmt(p[key], n=n)
                for key, n in (("city_overall", city), ("district_overall", districts))
                if n
            ]
            if overall:
                out.append(self.fmt(p["overall_by_jurisdiction"], made=join_names(overall)))
        rest = self._kinds({k: n for k, n in f.plans_made.items() if k != "overall"})
        if rest:
            out.append(self.fmt(p["made"], made=join_names(rest)))
        return "，".join(out)

    def plans_received(self) -> str:
        n = self.f.plans_received
        return self.fmt(self.t["plans"]["received"], n=n) if n else ""

    # -- drills --

    def drills_named(self) -> str:
        d = self.t["drills"]
        out = []
        for drill in self.f.comprehensive_drills[: d["max_names"]]:
            key = "named_title" if "演练" in drill.name else "named"
            text = self.fmt(d[key], name=drill.name, district=drill.district or self.f.district)
            if drill.participants:
                key = "named_count" if drill.units > 1 else "named_people"
                text += self.fmt(d[key], units=drill.units, participants=drill.participants)
            out.append(text)
        return "，".join(out)

    def programmes(self) -> str:
        d = self.t["drills"]
        return "，".join(
            self.fmt(d["programme"], pattern="、".join(p.pattern), n=p.drills)
            for p in self.f.programmes
            if p.pattern and p.drills
        )

    def drills_total(self) -> str:
        f, d, labels = self.f, self.t["drills"], self.t["labels"]
        if not f.drills_conducted:
            return ""
        forms = [
            f"{labels[k]}{f.drills_by_form[k]}次"
            for k in ("live", "tabletop")
            if f.drills_by_form.get(k)
        ]
        scopes = [
            f"{labels[k]}{f.drills_by_scope[k]}次"
            for k in ("comprehensive", "single")
            if f.drills_by_scope.get(k)
        ]
        groups = ["、".join(g) for g in (scopes, forms) if g]
        if not groups:
            return self.fmt(d["total"], n=f.drills_conducted)
        return self.fmt(d["total_by"], n=f.drills_conducted, by="，".join(groups))

    def actions_done(self) -> str:
        n = self.f.actions_done
        return self.fmt(self.t["drills"]["actions_done"], done=n) if n else ""

    # -- officers, events, reports, 叫应 --

    def officers(self) -> str:
        f, o = self.f, self.t["officers"]
        if not f.officers:
            return ""
        covered = f.officer_units_by_level
        units = "、".join(
            self.fmt(o[level], n=covered[level])
            for level in ("town", "village")
            if covered.get(level)
        )
        if not units:
            return ""
        text = self.fmt(o["sentence"], n=f.officers, units=units)
        villages = f.units_by_level.get("village", 0)
        if villages and covered.get("village", 0) == villages:
            text += self.fmt(o["full"])
        return text

    def _moved(self, e: EventFigure) -> bool:
        pre = self.t["events"]["include_pre_evacuated"]
        return e.relocated > 0 or (pre and e.pre_evacuated > 0)

    def events(self) -> str:
        ev = self.t["events"]
        keys = {"台风": "typhoon", "暴雨": "rainstorm", "寒潮": "cold_wave"}
        out = []
        hazards = list(dict.fromkeys(e.hazard for e in self.f.events))
        for hazard in hazards:
            moved = [e for e in self.f.events if e.hazard == hazard and self._moved(e)]
            if not moved:
                continue
            names = join_names([f"“{e.name}”" for e in moved])
            text = self.fmt(ev[keys.get(hazard, "other")], names=names)
            relocated = sum(e.relocated for e in moved)
            pre = sum(e.pre_evacuated for e in moved)
            if ev["include_pre_evacuated"] and pre:
                text += self.fmt(ev["pre_and_relocated"], pre=pre, relocated=relocated)
            elif relocated:
                text += self.fmt(ev["relocated"], relocated=relocated)
            processes = sum(e.processes for e in moved)
            if processes and all(e.processes_final == e.processes for e in moved):
                text += self.fmt(ev["reported"])
            out.append(text)
        return "，".join(out)

    def losses(self) -> str:
        f, lo = self.f, self.t["losses"]
        if not f.final_reports:
            return ""
        parts = [
            self.fmt(lo[key], n=n)
            for key, n in (
                ("affected", f.affected),
                ("relocated", f.relocated_final),
                ("direct_loss", _amount(f.direct_loss) if f.direct_loss else 0),
            )
            if n
        ]
        return self.fmt(lo["sentence"], parts="，".join(parts)) if parts else ""

    def reports(self) -> str:
        f, r = self.f, self.t["reports"]
        n = sum(f.reports_by_kind.values())
        if not n:
            return ""
        by = [
            self.fmt(r[kind], n=f.reports_by_kind[kind])
            for kind in ("initial", "update", "final")
            if f.reports_by_kind.get(kind)
        ]
        text = (
            self.fmt(r["by_kind"], n=n, by="、".join(by))
            if len(by) > 1
            else self.fmt(r["sentence"], n=n)
        )
        if not f.reports_late:
            text += self.fmt(r["all_on_time"])
        return text

    def warnings(self) -> str:
        f = self.f
        if not (f.warnings and f.call_targets):
            return ""
        return self.fmt(
            self.t["warnings"]["sentence"],
            rounds=f.warnings,
            called=f.call_targets,
            rate=_percent(f.calls_answered, f.call_targets),
        )

    # -- 存在的不足 --

    def shortcomings(self) -> list[str]:
        f, s = self.f, self.t["shortcomings"]
        found: dict[str, Callable[[], str]] = {
            "officer_gaps": self._gaps,
            "final_reports": self._unfinished,
            "reports": self._late,
            "calls": lambda: (
                self.fmt(s["calls"], n=f.calls_not_answered)
                if f.warnings and f.calls_not_answered
                else ""
            ),
            "actions_open": lambda: (
                self.fmt(s["actions_open"], n=f.actions_open) if f.actions_open else ""
            ),
            "evaluation_overdue": lambda: (
                self.fmt(s["evaluation_overdue"], n=f.plans_evaluation_overdue)
                if f.plans_evaluation_overdue
                else ""
            ),
        }
        return [text for key in s["order"] if (text := found[key]())]

    def _gaps(self) -> str:
        f = self.f
        gaps = [
            self.fmt(self.t["officers"][level], n=n)
            for level in ("village", "town")
            if (n := f.units_by_level.get(level, 0) - f.officer_units_by_level.get(level, 0))
        ]
        if not gaps:
            return ""
        return self.fmt(self.t["shortcomings"]["officer_gaps"], units="、".join(gaps))

    def _unfinished(self) -> str:
        unfinished = [
            f"“{e.name}”"
            for e in self.f.events
            if e.processes and e.processes_final < e.processes and self._moved(e)
        ]
        if not unfinished:
            return ""
        return self.fmt(self.t["shortcomings"]["final_reports"], names=join_names(unfinished))

    def _late(self) -> str:
        f, s = self.f, self.t["shortcomings"]
        parts = [
            self.fmt(s[key], n=n)
            for key, n in (("late", f.reports_late), ("rejected", f.reports_rejected))
            if n
        ]
        return self.fmt(s["reports"], parts="，".join(parts)) if parts else ""


def _groups(w: _Writer) -> list[str]:
    """Each group with something to say: its title, then its parts."""
    out = []
    for group in w.t["groups"]:
        parts = []
        for part in group["parts"]:
            clauses = []
            period = w.vars["period"]
            for name in part["clauses"]:
                text = getattr(w, name)()
                if text:
                    clauses.append(text)
                if period and period in text:
                    w.vars["period"] = ""  # said once a part: 全年…，报送…
            w.vars["period"] = period
            if clauses:
                parts.append(w.fmt(part.get("frame", "")) + "，".join(clauses) + "。")
        if parts:
            out.append(w.fmt(group.get("title", "")) + "".join(parts))
    return out


def render(f: SummaryFigures, bureau: str, t: dict[str, Any]) -> tuple[str, str]:
    """(title, Markdown): the title, the section heading, the lead with "一是…二是…", and the
    shortcomings in a paragraph of their own."""
    w = _Writer(f, bureau, t)
    s = t["section"]
    title = w.fmt(t["title"])
    marks = "##" if s.get("level", 2) == 1 else "###"
    groups = [w.item(i) + text for i, text in enumerate(_groups(w), 1)]
    # The lead and the groups are one paragraph, as the bureau writes them.
    lines = [f"# {title}", "", f"{marks} {w.fmt(s['ordinal'])}{w.fmt(s['heading'])}", ""]
    lines += [w.fmt(s["lead"]) + "".join(groups), ""]
    short = w.shortcomings()
    if short:
        heading = w.fmt(t["shortcomings"].get("heading", ""))
        if heading:
            lines += [f"{marks} {heading}", ""]
        opening = w.fmt(t["shortcomings"]["opening"])
        lines += [opening + "".join(w.item(i) + text for i, text in enumerate(short, 1)), ""]
    return title, "\n".join(lines)
