"""`.env.example` lists exactly the environment variables the code reads, each explained."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Code that runs in production or as a project tool (tests read TEST_* and are not configuration).
SOURCES = ["app/**/*.py", "scripts/*.py", "scripts/*.sh", "wsgi.py", "gunicorn.conf.py"]
PYTHON_READ = re.compile(
    r"""(?:\bos\.environ|\benviron|\benv)(?:\.get|\.setdefault|\.pop)?\s*[(\[]\s*["']"""
    r"""([A-Z][A-Z0-9_]*)["']"""
    r"""|\bos\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*):?-")
# Listed for the operator, but read by a library rather than by our code.
READ_BY_LIBRARIES = {"CUDA_VISIBLE_DEVICES"}


def variables_read_by_code() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for pattern in SOURCES:
        for path in ROOT.glob(pattern):
            text = path.read_text()
            regex = SHELL_READ if path.suffix == ".sh" else PYTHON_READ
            for match in regex.finditer(text):
                name = next(group for group in match.groups() if group)
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def listed_variables() -> set[str]:
    return {m.group(1) for line in env_example() if (m := re.match(r"([A-Z][A-Z0-9_]*)=", line))}


def test_the_scan_finds_reads_written_each_way():
    sample = ('os.environ.get("A_B")\nos.environ["C"]\nenv.get("D")\nos.getenv("E")\n'
              'os.environ.setdefault("F", "1")\nself.x = config.get("NOT_ENV")\n')
    names = {next(g for g in m.groups() if g) for m in PYTHON_READ.finditer(sample)}
    assert names == {"A_B", "C", "D", "E", "F"}
    assert SHELL_READ.findall('"${LOG_LEVEL:-INFO}" ${BASH_SOURCE[0]} ${X-1}') == ["LOG_LEVEL", "X"]


def test_every_variable_the_code_reads_is_in_env_example():
    read = variables_read_by_code()
    assert {"SECRET_KEY", "DATABASE_URL", "RECOVERY_SWEEP_SECONDS", "GUNICORN_BIND"} <= set(read)
    missing = {name: sorted(files) for name, files in read.items()
               if name not in listed_variables()}
    assert missing == {}, f"add these to .env.example with one line of explanation: {missing}"


def test_every_variable_in_env_example_is_read_by_the_code():
    unread = listed_variables() - set(variables_read_by_code()) - READ_BY_LIBRARIES
    assert unread == set(), f".env.example lists variables nothing reads: {sorted(unread)}"


def test_every_variable_in_env_example_is_explained():
    unexplained, explained = [], False
    for line in env_example():
        if line.startswith("#"):
            explained = True
        elif not line.strip():
            explained = False
        elif not explained:
            unexplained.append(line)
    assert unexplained == []
