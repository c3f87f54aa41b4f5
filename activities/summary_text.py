"""Render the year's figures as the bureau's prose (Markdown), from editable templates."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

from models.summary import SummaryFigures

#: The template shipped with the package; ``YINGJI_SUMMARY_TEMPLATE_PATH`` points to an edited copy.
DEFAULT_TEMPLATES = Path(str(files("yingji.core") / "templates" / "year_end.toml"))


def load_templates(path: Path | None = None) -> dict[str, Any]:
    with (path or DEFAULT_TEMPLATES).open("rb") as f:
        return tomllib.load(f)


def join_names(names: list[str]) -> str:
    """甲、乙和丙 — the way the reports list things."""
    if len(names) <= 1:
        return "".join(names)
    return "、".join(names[:-1]) + "和" + names[-1]


def _percent(part: int, whole: int) -> str:
    value = 100 * part / whole
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def _default_plans() -> dict[str, Any]:
    """The packaged ``[plans]`` wording: an edited copy from before city bureaus lacks some."""
    return dict(load_templates()["plans"])


def _overall_by_jurisdiction(f: SummaryFigures, p: dict[str, Any]) -> str:
    """完成1个市级总体应急预案和20个区县总体应急预案制定工作。— each part left out when zero."""
    parts = [
        p[key].format(n=n)
        for key, n in (
            ("city_overall", f.plans_made_by_jurisdiction.get("city", {}).get("overall", 0)),
            (
                "district_overall",
                f.plans_made_by_jurisdiction.get("district", {}).get("overall", 0),
            ),
        )
        if n
    ]
    return p["overall_by_jurisdiction"].format(made=join_names(parts)) if parts else ""


def sentences(f: SummaryFigures, bureau: str, t: dict[str, Any]) -> list[str]:
    labels = t["labels"]
    out: list[str] = []
    p = t["plans"]
    parts = []
    overall_apart = ""
    if f.level == "city":
        # A city's own overall plan and its districts' are told apart, in a sentence of their own.
        overall_apart = _overall_by_jurisdiction(f, {**_default_plans(), **p})
    elif f.plans_made.get("overall"):
        parts.append(p["overall"].format(n=f.plans_made["overall"]))
    special_departmental = f.plans_made.get("special", 0) + f.plans_made.get("departmental", 0)
    if special_departmental:
        parts.append(p["special_departmental"].format(n=special_departmental))
    for kind in ("grassroots", "enterprise", "on_site"):
        if f.plans_made.get(kind):
            parts.append(p["other"].format(n=f.plans_made[kind], label=labels[kind]))
    revised = ""
    if f.special_plans_revised:
        shown = f.special_plans_revised[: p["max_names"]]
        names = join_names([f"《{n}》" for n in shown])
        many = len(f.special_plans_revised) > len(shown)
        revised = p["revised_many" if many else "revised"].format(
            names=names, n=len(f.special_plans_revised)
        )
    elif f.revisions_started:
        revised = p["revisions_other"].format(n=f.revisions_started)
    if revised:
        out.append(revised)
    if overall_apart:
        out.append(overall_apart)
    if parts:
        out.append(p["made"].format(made=join_names(parts)))

    d = t["drills"]
    for drill in f.comprehensive_drills:
        if drill.participants:
            out.append(
                d["named"].format(
                    name=drill.name,
                    district=drill.district or f.district,
                    units=drill.units,
                    participants=drill.participants,
                )
            )
        else:
            out.append(
                d["named_without_count"].format(
                    name=drill.name, district=drill.district or f.district, units=drill.units
                )
            )
    if f.drills_conducted:
        by_type = "，".join(f"{labels[k]}{n}次" for k, n in f.drills_by_type.items())
        out.append(d["total"].format(n=f.drills_conducted, by_type=by_type))
    if f.actions_done or f.actions_open:
        key = "actions" if f.actions_open else "actions_all_done"
        out.append(d[key].format(done=f.actions_done, open=f.actions_open))

    if f.typhoons:
        names = join_names([f"“{x.name}”" for x in f.typhoons])
        out.append(t["typhoons"]["sentence"].format(names=names, total=f.typhoon_relocated))
    total = f.reports_on_time + f.reports_late
    if total:
        r = t["reports"]
        key = "sentence" if f.reports_late else "all_on_time"
        out.append(r[key].format(total=total, on_time=f.reports_on_time, late=f.reports_late))
    if f.officers:
        o = t["officers"]
        out.append(o["sentence"].format(n=f.officers, units=f.officer_units))
        if f.officer_gaps:
            out.append(o["gaps"].format(gaps=f.officer_gaps))
    if f.warnings and f.call_targets:
        out.append(
            t["warnings"]["sentence"].format(
                warnings=f.warnings,
                targets=f.call_targets,
                rate=_percent(f.calls_answered, f.call_targets),
            )
        )
    return out


def render(f: SummaryFigures, bureau: str, t: dict[str, Any]) -> tuple[str, str]:
    """(title, Markdown). The section heading, a lead sentence, then one paragraph."""
    title = t["title"].format(year=f.year, district=f.district)
    body = "".join(sentences(f, bureau, t))
    lead = t["lead"].format(year=f.year, bureau=bureau)
    paragraph = lead + body if body else lead
    return title, f"# {title}\n\n## {t['heading']}\n\n{paragraph}\n"
