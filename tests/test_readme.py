"""The README promises a two-command setup and links to the lesson's files;
CI must run exactly the test command the README gives students."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    section = README.split("## Setup: two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_setup_is_exactly_two_commands():
    commands = setup_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install -r requirements.txt")
    assert commands[1] == "pytest"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = setup_commands()[1]
    assert f"TEST_CMD=({test_command})" in ci
    assert "pip install --quiet -r requirements.txt" in ci


def test_requirements_pin_torch_exactly():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    packages = [line for line in lines if line and not line.startswith("#")]
    assert "torch==2.13.0" in packages
    assert all("==" in line for line in packages), "every requirement is pinned exactly"
    assert not any(line.startswith("-") for line in packages), "no index-url or other pip options"


def test_local_links_in_readme_exist():
    targets = re.findall(r"\]\(([^)#\s]+)\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"
