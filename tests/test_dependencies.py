"""The installed packages meet requirements.txt's floors: some floors close known holes (CVEs in Keras's safe
mode and in Streamlit's uploads), so a machine with older ones installed must fail here, not in a demo."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"


def requirements(text: str) -> list[Requirement]:
    """The requirements in a requirements file's text; comments, blank lines and options (-r ...) skipped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def floor(requirement: Requirement) -> Version | None:
    """The lowest version `requirement` allows, where it names one (>=, ==, ~=)."""
    lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==", "~=", "===")]
    return max(lows, default=None)


def below_floor(requirement: Requirement, installed: str | None) -> str | None:
    """What is wrong with `installed` (a version, or None for not installed) against the floor, or None."""
    low = floor(requirement)
    if installed is None:
        return f"{requirement.name} is not installed (requirements.txt wants {requirement.specifier})"
    if low is not None and Version(installed) < low:
        return f"{requirement.name} {installed} is installed, below requirements.txt's floor {low}"
    return None


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_every_installed_package_meets_its_floor():
    found = requirements(REQUIREMENTS.read_text())
    assert len(found) >= 10  # the parser read the file, not an empty list
    problems = [p for r in found if (p := below_floor(r, installed_version(r.name)))]
    assert not problems, "; ".join(problems) + ". Run: pip install -r requirements.txt"


def test_the_check_flags_a_version_below_its_floor():
    keras = Requirement("keras>=3.15.1,<4")
    assert below_floor(keras, "3.15.0") == "keras 3.15.0 is installed, below requirements.txt's floor 3.15.1"
    assert below_floor(keras, "3.9.2") is not None  # compared as versions, not as strings
    assert below_floor(keras, "3.15.1") is None and below_floor(keras, "3.16.0") is None
    assert "not installed" in below_floor(keras, None)


def test_the_floors_close_the_known_holes():
    floors = {r.name: floor(r) for r in requirements(REQUIREMENTS.read_text())}
    assert floors["keras"] >= Version("3.15.1")  # CVE-2026-12481 and the safe-mode bypasses before it
    assert floors["streamlit"] >= Version("1.54")  # CVE-2025-1684, CVE-2026-33682


def test_comments_and_options_are_skipped():
    text = "# a comment\n-r other.txt\n\nnumpy>=1.26,<3   # why\nscipy\n"
    assert [str(r) for r in requirements(text)] == ["numpy<3,>=1.26", "scipy"]
    assert floor(requirements(text)[1]) is None
