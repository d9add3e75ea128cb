"""Add 1-based ``file``/``line`` attributes (and ``cost_usd``, ``change`` properties) to pytest's JUnit testcases.

pytest writes ``file``/``line`` only for ``junit_family=xunit1`` and 0-based; GitLab and the common GitHub
JUnit reporters read them to point at the suite line, so we set them after pytest has written the file.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from helm_eval._records import CaseResult


def junit_names(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """(classname, name) the way pytest's junitxml derives them from a node id."""
    path, *rest = nodeid.split("::")
    parts = path.split("/")
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "[doctest]":
        parts[-1] = "doctest"
    names = parts + rest
    classnames = names[:-1]
    if prefix:
        classnames.insert(0, prefix)
    return ".".join(classnames), names[-1]


def add_locations(xml_path: Path, cases: Iterable[CaseResult], prefix: str | None = None) -> int:
    """Set ``file`` and 1-based ``line`` on matching testcases; returns how many were updated.

    The file is rewritten atomically; a file that cannot be read is left alone.
    """
    where = {junit_names(c.nodeid, prefix): c for c in cases if c.line is not None}
    if not where:
        return 0
    try:
        tree = ET.parse(xml_path)
    except (OSError, ET.ParseError):
        return 0
    updated = 0
    for testcase in tree.iter("testcase"):
        case = where.get((testcase.get("classname", ""), testcase.get("name", "")))
        if case is None:
            continue
        testcase.set("file", case.file)
        testcase.set("line", str(case.line))
        # cost (GPU-hour shares) and the change against the baseline are known only at the end of the run,
        # after pytest wrote the properties
        extra = {"cost_usd": None if case.cost_usd is None else f"{case.cost_usd:.6f}", "change": case.change,
                 "base_status": case.base_status if case.change else None}  # fmt: skip
        for name, value in extra.items():
            if value is None:
                continue
            properties = testcase.find("properties")
            if properties is None:
                properties = ET.Element("properties")
                testcase.insert(0, properties)
            ET.SubElement(properties, "property", name=name, value=value)
        updated += 1
    if updated:
        tmp = xml_path.with_name(f".{xml_path.name}.{os.getpid()}.tmp")
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, xml_path)
    return updated
