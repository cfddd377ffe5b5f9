#!/usr/bin/env python3
"""Draws the layout of vpce-guard's CloudWatch dashboard as an SVG, from the template, offline.

Reads the AWS::CloudWatch::Dashboard of infra/template.yaml (or of a JSON rendering of it, such as
`infra/tools/infra_checks.py render` output), fills its DashboardBody's ${...} references with example
values (the parameters' defaults, us-west-2, account 123456789012), and lays the widgets out at their
x/y/width/height on CloudWatch's 24-column grid: titles, statistic and period, axes with their labels,
the legend of every visible series (metric math expressions with their formula), annotations, the
text widget's markdown and the alarm widget's alarms. It draws no data: every plot says so.

Usage:
  scripts/render-dashboard.py [TEMPLATE] [-o docs/dashboard.svg]   write the SVG
  scripts/render-dashboard.py [TEMPLATE] --check docs/dashboard.svg
                                                                   exit 1 if FILE differs from a fresh
                                                                   rendering (scripts/validate-infra.sh)
Standard library and PyYAML only (both Python environments of the repository have it).
"""

import argparse
import json
import pathlib
import re
import sys
from xml.sax.saxutils import escape

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "infra" / "tools"))
from cfn_yaml import ACCOUNT, PSEUDO, REGION, load_template  # noqa: E402  (shared with infra/tests)

ROOT = pathlib.Path(__file__).resolve().parents[1]
COL = 50          # px per grid column (24 columns)
ROW = 40          # px per grid row
MARGIN = 16
HEADER = 64
GAP = 4           # px between neighbouring widgets
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
FONT = "font-family=\"Helvetica, Arial, sans-serif\""


# ------------------------------------------------------------------------------------------ template


class Example:
    """Example values for the template's intrinsics."""

    def __init__(self, template):
        self.template = template

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.template.get("Parameters", {}):
            return str(self.template["Parameters"][name].get("Default", ""))
        props = self.template["Resources"][name].get("Properties", {})
        for key in ("FunctionName", "QueueName", "AlarmName", "DashboardName"):
            if key in props:
                return self.resolve(props[key])
        return f"{self.ref('NamePrefix')}-{name}" if "NamePrefix" in self.template.get("Parameters", {}) else name

    def get_att(self, name, attribute):
        kind = self.template["Resources"][name]["Type"]
        if attribute == "Arn" and kind == "AWS::CloudWatch::Alarm":
            return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{self.ref(name)}"
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.ref(name)}"
        if attribute == "QueueName":
            return self.ref(name)
        return f"{name}.{attribute}"

    def resolve(self, value):
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            attribute = value["Fn::GetAtt"]
            return self.get_att(*(attribute.split(".", 1) if isinstance(attribute, str) else attribute))
        if set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

            def substitute(match):
                name = match.group(1)
                if name in variables:
                    return str(self.resolve(variables[name]))
                if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                    return str(self.get_att(*name.split(".", 1)))
                return str(self.ref(name))

            return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text).replace("${!", "${")
        return {k: self.resolve(v) for k, v in value.items()}


def dashboard_of(template):
    found = [(name, r) for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(found) != 1:
        sys.exit(f"expected one AWS::CloudWatch::Dashboard, found {len(found)}")
    example = Example(template)
    props = found[0][1]["Properties"]
    return example.resolve(props["DashboardName"]), json.loads(example.resolve(props["DashboardBody"]))


# ------------------------------------------------------------------------------------------ drawing


def text(x, y, content, size=12, weight="normal", fill="#16191f", anchor="start", style="", extra=""):
    return (f'<text x="{x:.0f}" y="{y:.0f}" {FONT} font-size="{size}" font-weight="{weight}" fill="{fill}" '
            f'text-anchor="{anchor}"{style}{extra}>{escape(content)}</text>')


def fit(content, width_px, size):
    """Cut a line to what fits in width_px at this font size (average glyph about 0.55 em)."""
    room = max(1, int(width_px / (size * 0.55)))
    return content if len(content) <= room else content[: max(1, room - 1)] + "…"


def wrap(content, width_px, size):
    room = max(8, int(width_px / (size * 0.55)))
    lines, line = [], ""
    for word in content.split():
        if line and len(line) + 1 + len(word) > room:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def period_name(seconds):
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def series_of(props):
    """The visible series of a metric widget: (label, detail, axis)."""
    series = []
    for entry in props.get("metrics", []):
        options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
        if options.get("visible") is False:
            continue
        if "expression" in options:
            series.append((options.get("label", options["expression"]), f"= {options['expression']}",
                           options.get("yAxis", "left")))
            continue
        names = [e for e in entry if not isinstance(e, dict)]
        namespace, metric = names[0], names[1]
        dimensions = dict(zip(names[2::2], names[3::2]))
        stat = options.get("stat", props.get("stat", ""))
        label = options.get("label", metric)
        detail = f"{namespace} {metric} {stat} · " + ", ".join(f"{k}={v}" for k, v in dimensions.items())
        series.append((label, detail, options.get("yAxis", "left")))
    return series


def hidden_inputs(props):
    return sum(1 for e in props.get("metrics", []) if e and isinstance(e[-1], dict) and e[-1].get("visible") is False)


def draw_metric(x, y, w, h, props, start):
    out = []
    series = series_of(props)
    y_axis = props.get("yAxis", {})
    right = any(axis == "right" for _, _, axis in series)
    legend_lines = len(series) + (1 if hidden_inputs(props) else 0)
    legend_h = 15 * legend_lines + 6
    left_pad, right_pad = 46, (46 if right else 14)
    top = y + 46
    bottom = y + h - 10 - legend_h - 16
    px0, px1 = x + left_pad, x + w - right_pad
    if bottom - top < 30:  # tiny widget: keep a minimal plot
        bottom = top + 30
    out.append(text(x + 10, y + 34, fit(f"{props.get('view', 'timeSeries')}"
                                        f"{', stacked' if props.get('stacked') else ''} · {props.get('stat', '')}, "
                                        f"{period_name(props.get('period', 300))}", w - 20, 10), 10, fill="#5f6b7a"))
    # plot frame, faint grid, axes
    for i in range(1, 4):
        gy = bottom - (bottom - top) * i / 4
        out.append(f'<line x1="{px0}" y1="{gy:.0f}" x2="{px1}" y2="{gy:.0f}" stroke="#eaeded" stroke-width="1"/>')
    out.append(f'<line x1="{px0}" y1="{top}" x2="{px0}" y2="{bottom}" stroke="#8d99a8" stroke-width="1"/>')
    out.append(f'<line x1="{px0}" y1="{bottom}" x2="{px1}" y2="{bottom}" stroke="#8d99a8" stroke-width="1"/>')
    if right:
        out.append(f'<line x1="{px1}" y1="{top}" x2="{px1}" y2="{bottom}" stroke="#8d99a8" stroke-width="1"/>')
    left = y_axis.get("left", {})
    if "min" in left:
        out.append(text(px0 - 4, bottom + 4, str(left["min"]), 10, fill="#5f6b7a", anchor="end"))
    if left.get("label"):
        cx, cy = x + 14, (top + bottom) / 2
        out.append(text(cx, cy, left["label"], 10, fill="#5f6b7a", anchor="middle",
                        extra=f' transform="rotate(-90 {cx:.0f} {cy:.0f})"'))
    right_axis = y_axis.get("right", {})
    if right and right_axis.get("label"):
        cx, cy = x + w - 12, (top + bottom) / 2
        out.append(text(cx, cy, right_axis["label"], 10, fill="#5f6b7a", anchor="middle",
                        extra=f' transform="rotate(90 {cx:.0f} {cy:.0f})"'))
    if right and "min" in right_axis:
        out.append(text(px1 + 4, bottom + 4, str(right_axis["min"]), 10, fill="#5f6b7a"))
    out.append(text(px0, bottom + 13, start.replace("-PT", "−").replace("H", " h").lower(), 10, fill="#5f6b7a"))
    out.append(text(px1, bottom + 13, "now", 10, fill="#5f6b7a", anchor="end"))
    # annotations: their value and label, not a position (there is no scale without data)
    for i, note in enumerate(props.get("annotations", {}).get("horizontal", [])):
        ay = bottom - (bottom - top) * (0.3 + 0.2 * i)
        out.append(f'<line x1="{px0}" y1="{ay:.0f}" x2="{px1}" y2="{ay:.0f}" stroke="#d13212" '
                   f'stroke-width="1" stroke-dasharray="5,4"/>')
        out.append(text(px1 - 4, ay - 4, fit(f"{note.get('label', '')}: {note.get('value')}", px1 - px0 - 8, 10),
                        10, fill="#d13212", anchor="end"))
    out.append(text((px0 + px1) / 2, (top + bottom) / 2 + 4, "layout only: no data", 11, fill="#aab7b8",
                    anchor="middle", style=' font-style="italic"'))
    # legend
    ly = bottom + 30
    for i, (label, detail, axis) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        line = f"{label}{' (right axis)' if axis == 'right' else ''}"
        out.append(text(x + 26, ly, fit(line, w - 36, 11), 11))
        width_left = w - 36 - len(line) * 11 * 0.6 - 10
        if width_left > 60:
            out.append(text(x + 26 + len(line) * 11 * 0.6 + 10, ly, fit(detail, width_left, 9), 9, fill="#5f6b7a"))
        ly += 15
    hidden = hidden_inputs(props)
    if hidden:
        out.append(text(x + 10, ly, fit(f"+ {hidden} hidden metrics feeding the expressions", w - 20, 9), 9,
                        fill="#5f6b7a"))
    return out


def draw_text_widget(x, y, w, h, props):
    out, ly = [], y + 24
    for raw in props.get("markdown", "").split("\n"):
        heading = raw.startswith("#")
        content = raw.lstrip("#").strip()
        size = 16 if heading else 12
        for line in wrap(content, w - 24, size) or [""]:
            if ly > y + h - 6:
                return out
            out.append(text(x + 12, ly, line, size, weight="bold" if heading else "normal"))
            ly += size + 6
    return out


def draw_alarm_widget(x, y, w, h, props):
    out, ly = [], y + 46
    out.append(text(x + 10, y + 34, "alarm status · sorted by " + props.get("sortBy", "default"), 10, fill="#5f6b7a"))
    for arn in props.get("alarms", []):
        if ly > y + h - 8:
            out.append(text(x + 10, ly, "…", 11))
            break
        out.append(f'<circle cx="{x + 16}" cy="{ly - 4}" r="5" fill="none" stroke="#aab7b8" stroke-width="2"/>')
        out.append(text(x + 28, ly, fit(arn.rsplit(":alarm:", 1)[-1], w - 120, 11), 11))
        out.append(text(x + w - 10, ly, "no data", 10, fill="#aab7b8", anchor="end", style=' font-style="italic"'))
        ly += 16
    return out


def render(name, body, source):
    widgets = body.get("widgets", [])
    rows = max((wd.get("y", 0) + wd.get("height", 6) for wd in widgets), default=0)
    width = 2 * MARGIN + 24 * COL
    height = HEADER + MARGIN + rows * ROW
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f2f3f3"/>',
           text(MARGIN, 26, f"CloudWatch dashboard {name}", 18, weight="bold"),
           text(MARGIN, 46, f"Layout of the widgets in {source} on CloudWatch's 24-column grid, drawn by "
                            "scripts/render-dashboard.py with example names (parameter defaults, "
                            f"{REGION}). No data: axes, legends and alarms only.", 11, fill="#5f6b7a")]
    for widget in widgets:
        x = MARGIN + widget.get("x", 0) * COL + GAP / 2
        y = HEADER + widget.get("y", 0) * ROW + GAP / 2
        w = widget.get("width", 6) * COL - GAP
        h = widget.get("height", 6) * ROW - GAP
        props = widget.get("properties", {})
        out.append(f'<g><rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="3" fill="#ffffff" '
                   f'stroke="#d5dbdb" stroke-width="1"/>')
        if widget.get("type") != "text":
            out.append(text(x + 10, y + 20, fit(props.get("title", ""), w - 20, 13), 13, weight="bold"))
        if widget.get("type") == "metric":
            out.extend(draw_metric(x, y, w, h, props, body.get("start", "-PT3H")))
        elif widget.get("type") == "text":
            out.extend(draw_text_widget(x, y, w, h, props))
        elif widget.get("type") == "alarm":
            out.extend(draw_alarm_widget(x, y, w, h, props))
        else:
            out.append(text(x + 10, y + 40, f"({widget.get('type')} widget)", 11, fill="#5f6b7a"))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("template", nargs="?", default=str(ROOT / "infra" / "template.yaml"))
    parser.add_argument("-o", "--out", default=str(ROOT / "docs" / "dashboard.svg"))
    parser.add_argument("--check", metavar="FILE", help="compare FILE with a fresh rendering instead of writing")
    args = parser.parse_args()
    name, body = dashboard_of(load_template(args.template))
    try:
        source = pathlib.Path(args.template).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        source = pathlib.Path(args.template).name
    svg = render(name, body, source)
    if args.check:
        current = pathlib.Path(args.check).read_text(encoding="utf-8") if pathlib.Path(args.check).exists() else ""
        if current != svg:
            print(f"{args.check} is not the layout of {source}'s dashboard: run scripts/render-dashboard.py")
            return 1
        print(f"{args.check} matches {source} ({len(body.get('widgets', []))} widgets)")
        return 0
    pathlib.Path(args.out).write_text(svg, encoding="utf-8")
    print(f"wrote {args.out} ({len(body.get('widgets', []))} widgets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
