"""The Ansible collection, driven by ansible-playbook over an inventory of four local hosts.

Each host has its own HOME (for the check) and its own --root tree (for apply and
rollback), given through host variables: h1 and h2 are ordinary, h3's check fails a
threshold so its facts skip the apply (``when:``), h4 holds a malformed daemon.json. One
playbook run per scenario: check mode with --diff, a real run, a second run, a rollback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parent.parent
COLLECTION = REPO / "ansible_collections" / "envdoctor" / "envdoctor"
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
ENVDOCTOR = Path(sys.executable).parent / "envdoctor"
HOSTS = ("h1", "h2", "h3", "h4")
SECRET = "s3cret-pw"
PIP_CONF = f"[global]\nindex-url = https://deploy:{SECRET}@pypi.corp.example/simple\n"
PROFILE = (
    'extends = "cn-tsinghua"\ndescription = "the fleet\'s mirrors"\n'
    '[docker]\nregistry-mirrors = ["https://docker.1ms.run"]\n'
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PLAYBOOK is None, reason="ansible-core is not installed (test extra)"),
]

APPLY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: Check this host
      envdoctor.envdoctor.envdoctor_check:
        executable: "{{ envdoctor_exe }}"
        only: [memory]
        require: "{{ envdoctor_require }}"
        throughput: "{{ envdoctor_throughput }}"
        fail_on: never
      environment:
        HOME: "{{ check_home }}"
    - name: Keep the document for the fleet report
      ansible.builtin.copy:
        content: "{{ ansible_facts.envdoctor_check | to_json }}"
        dest: "{{ reports }}/{{ inventory_hostname }}.json"
        mode: "0644"
      check_mode: false
      changed_when: false
    - name: Apply the fleet profile where the check did not fail
      envdoctor.envdoctor.envdoctor_apply:
        executable: "{{ envdoctor_exe }}"
        profile: fleet
        only: [pip, conda, docker]
        scope: system
        root: "{{ envdoctor_root }}"
      environment:
        HOME: "{{ root_home }}"
      when: ansible_facts.envdoctor_check.summary.status != 'fail'
      register: applied
"""

ROLLBACK = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: Undo the latest apply
      envdoctor.envdoctor.envdoctor_rollback:
        executable: "{{ envdoctor_exe }}"
        scope: system
        root: "{{ envdoctor_root }}"
      environment:
        HOME: "{{ root_home }}"
"""


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a tree but the journal, byte for byte."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "var/lib/envdoctor" not in str(path)
    }


def _logging_envdoctor(base: Path) -> Path:
    """The real envdoctor behind a script that keeps each check's arguments in
    ``$HOME/check-argv`` (the check task's HOME is the host's own), one per line."""
    script = base / "envdoctor"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = check ]; then printf \'%s\\n\' "$@" > "$HOME/check-argv"; fi\n'
        f'exec "{ENVDOCTOR}" "$@"\n'
    )
    script.chmod(0o755)
    return script


def controller_env(home: Path) -> dict[str, str]:
    """ansible-playbook's environment: the collection from this checkout, and the
    controller's ``~/.ansible`` and temporary files in ``home`` (tmp), no colours."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_COLLECTIONS_PATH": str(REPO),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote"),
    }


class Fleet:
    def __init__(self, base: Path) -> None:
        self.base = base
        envdoctor = _logging_envdoctor(base)
        self.reports = base / "reports"
        self.reports.mkdir()
        self.roots = {host: base / host / "root" for host in HOSTS}
        inventory: dict[str, Any] = {}
        for host, root in self.roots.items():
            home = root / "home" / host
            (home / ".config" / "envdoctor" / "profiles").mkdir(parents=True)
            (home / ".config" / "envdoctor" / "profiles" / "fleet.toml").write_text(PROFILE)
            (root / "etc").mkdir()
            (root / "etc" / "pip.conf").write_text(PIP_CONF)
            (base / host / "home").mkdir()
            inventory[host] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "envdoctor_exe": str(envdoctor),
                "envdoctor_root": str(root),
                "root_home": f"/home/{host}",
                "check_home": str(base / host / "home"),
                "envdoctor_require": ["mem=100000G"] if host == "h3" else [],
                "envdoctor_throughput": host == "h2",
                "reports": str(self.reports),
            }
        (self.roots["h4"] / "etc" / "docker").mkdir()
        (self.roots["h4"] / "etc" / "docker" / "daemon.json").write_text(
            '{\n  "log-driver": "json-file",\n}\n'
        )
        self.inventory = base / "inventory.json"
        self.inventory.write_text(
            json.dumps({"all": {"children": {"fleet": {"hosts": inventory}}}})
        )
        (base / "apply.yml").write_text(APPLY)
        (base / "rollback.yml").write_text(ROLLBACK)
        self.initial = {host: snapshot(root) for host, root in self.roots.items()}

    def play(self, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        controller = self.base / "controller"
        controller.mkdir(exist_ok=True)
        env = {
            **controller_env(controller),
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",  # the tree callback (kept until 2.23)
            # The tree callback keeps each host's last task result: the apply's.
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree",
            "ANSIBLE_CALLBACK_TREE_DIR": str(self.base / "tree"),
        }
        assert PLAYBOOK is not None
        argv = [PLAYBOOK, "-i", str(self.inventory), "-f", "4", str(self.base / playbook), *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


RECAP = re.compile(r"^(h\d)\s+:\s+(.*)$", re.M)


def stats(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    """The PLAY RECAP: per host ok, changed, failed, skipped..."""
    found = {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
        for host, counts in RECAP.findall(run.stdout)
    }
    assert set(found) == set(HOSTS), run.stdout[-3000:]
    return found


def returned(fleet: Fleet) -> dict[str, Any]:
    """What envdoctor_apply returned on each host that got past it."""
    found = {}
    for host in HOSTS:
        path = fleet.base / "tree" / host
        if path.exists():
            found[host] = json.loads(path.read_text())
    return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every scenario once, in order; the tests below read what each left."""
    fleet = Fleet(tmp_path_factory.mktemp("fleet"))
    dry = fleet.play("apply.yml", "--check", "--diff")
    after_dry = {host: snapshot(root) for host, root in fleet.roots.items()}
    first = fleet.play("apply.yml")
    after_first = {host: snapshot(root) for host, root in fleet.roots.items()}
    reports = {host: json.loads((fleet.reports / f"{host}.json").read_text()) for host in HOSTS}
    applied = returned(fleet)
    second = fleet.play("apply.yml")
    after_second = {host: snapshot(root) for host, root in fleet.roots.items()}
    undone = fleet.play("rollback.yml")
    return {
        "fleet": fleet,
        "dry": dry,
        "after_dry": after_dry,
        "first": first,
        "after_first": after_first,
        "reports": reports,
        "applied": applied,
        "second": second,
        "after_second": after_second,
        "undone": undone,
        "after_undo": {host: snapshot(root) for host, root in fleet.roots.items()},
    }


def test_check_mode_with_diff_changes_nothing_and_shows_the_masked_diffs(fleet):
    dry, base = fleet["dry"], fleet["fleet"]
    assert fleet["after_dry"] == base.initial
    counts = stats(dry)
    recap = {host: (counts[host]["changed"], counts[host]["failed"]) for host in HOSTS}
    assert recap == {"h1": (1, 0), "h2": (1, 0), "h3": (0, 0), "h4": (0, 1)}, dry.stdout
    root = base.roots["h1"]
    assert f"--- before: {root}/etc/pip.conf" in dry.stdout
    assert f"+++ after: {root}/etc/pip.conf" in dry.stdout
    assert "-index-url = https://***:***@pypi.corp.example/simple" in dry.stdout
    assert "+index-url = https://mirrors.tuna.tsinghua.edu.cn/pypi/web/simple" in dry.stdout
    assert "docker.1ms.run" in dry.stdout
    assert SECRET not in dry.stdout + dry.stderr


def test_a_real_run_writes_the_files_and_the_malformed_host_fails_alone(fleet):
    first, base = fleet["first"], fleet["fleet"]
    counts = stats(first)
    assert {host: counts[host]["changed"] for host in HOSTS} == {"h1": 1, "h2": 1, "h3": 0, "h4": 0}
    assert {host: counts[host]["failed"] for host in HOSTS} == {"h1": 0, "h2": 0, "h3": 0, "h4": 1}
    assert first.returncode == 2  # a host failed
    for host in ("h1", "h2"):
        files = fleet["after_first"][host]
        assert b"mirrors.tuna.tsinghua.edu.cn" in files["etc/pip.conf"]
        assert b"docker.1ms.run" in files["etc/docker/daemon.json"]
        assert "etc/conda/.condarc" in files
    applied = fleet["applied"]
    assert applied["h1"]["apply_id"] and applied["h1"]["status"] == "applied"
    assert applied["h1"]["files"][0] == f"{base.roots['h1']}/etc/pip.conf"
    assert applied["h4"]["rc"] == 2 and not applied["h4"]["changed"]
    assert applied["h4"]["msg"].startswith("docker: ")  # envdoctor's own message
    assert f"{base.roots['h4']}/etc/docker/daemon.json" in applied["h4"]["msg"]  # in the image
    fatal = next(line for line in first.stdout.splitlines() if line.startswith("fatal: [h4]"))
    assert "daemon.json" in fatal
    assert fleet["after_first"]["h4"] == base.initial["h4"]


def test_check_facts_feed_when_the_failing_host_is_skipped(fleet):
    base = fleet["fleet"]
    applied = fleet["applied"]
    assert "apply_id" not in applied["h3"]  # its last result is the copy before the apply
    assert stats(fleet["first"])["h3"]["skipped"] == 1
    assert fleet["after_first"]["h3"] == base.initial["h3"]
    assert fleet["reports"]["h3"]["summary"]["status"] == "fail"
    assert fleet["reports"]["h1"]["summary"]["status"] != "fail"


def test_the_throughput_option_reaches_the_check(fleet):
    base = fleet["fleet"]
    argv = {host: (base.base / host / "home" / "check-argv").read_text().split() for host in HOSTS}
    assert argv["h2"][:1] == ["check"] and "--throughput" in argv["h2"], argv
    assert not any("--throughput" in argv[host] for host in ("h1", "h3", "h4")), argv
    assert fleet["reports"]["h2"]["summary"]["status"] == "ok"  # accepted beside --only memory


def test_a_second_run_reports_no_change_on_any_host(fleet):
    counts = stats(fleet["second"])
    assert all(counts[host]["changed"] == 0 for host in HOSTS), counts
    assert fleet["after_second"] == fleet["after_first"]


def test_rollback_restores_every_host_byte_for_byte(fleet):
    undone, base = fleet["undone"], fleet["fleet"]
    assert undone.returncode == 0, undone.stdout[-3000:]
    counts = stats(undone)
    assert {host: counts[host]["changed"] for host in HOSTS} == {"h1": 1, "h2": 1, "h3": 0, "h4": 0}
    assert fleet["after_undo"] == base.initial


def test_the_fleet_report_of_those_hosts(fleet, tmp_path):
    from markdown_it import MarkdownIt

    base = fleet["fleet"]
    files = [str(base.reports / f"{host}.json") for host in HOSTS]
    out = tmp_path / "fleet"
    for fmt in ("md", "json", "html"):
        done = subprocess.run(
            [str(ENVDOCTOR), "report", "--merge", *files, "--format", fmt, "-o", f"{out}.{fmt}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr  # h3 failed its threshold
    merged = json.loads(Path(f"{out}.json").read_text())
    schema = json.loads((REPO / "envdoctor" / "schema" / "fleet-v1.json").read_text())
    jsonschema.validate(merged, schema)
    assert merged["hosts"][0]["status"] == "fail"  # worst first
    assert merged["hosts"][0]["source"].endswith("h3.json")
    assert [host["status"] for host in merged["hosts"][1:]] == ["ok", "ok", "ok"]
    [finding] = merged["hosts"][0]["findings"]
    assert finding["name"] == "memory" and finding["status"] == "fail"
    text = Path(f"{out}.md").read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert sum(token.type == "tr_open" for token in tokens) == 1 + len(HOSTS)
    inline = [token.content for token in tokens if token.type == "inline"]
    assert inline.index("h3") < min(inline.index(host) for host in ("h1", "h2", "h4"))
    page = Path(f"{out}.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_the_collection_builds(tmp_path):
    galaxy = shutil.which("ansible-galaxy", path=str(Path(sys.executable).parent))
    assert galaxy is not None
    env = {**os.environ, "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    done = subprocess.run(
        [galaxy, "collection", "build", str(COLLECTION), "--output-path", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "envdoctor-envdoctor-0.1.0.tar.gz").is_file()


def _play_one(base: Path, playbook: str, **host_vars: Any) -> subprocess.CompletedProcess[str]:
    """``playbook`` on one local host with ``host_vars``; the controller kept in ``base``."""
    inventory = base / "one.json"
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        **host_vars,
    }
    inventory.write_text(json.dumps({"all": {"hosts": {"one": variables}}}))
    (base / "play.yml").write_text(playbook)
    assert PLAYBOOK is not None
    argv = [PLAYBOOK, "-i", str(inventory), str(base / "play.yml"), "-v"]
    return subprocess.run(
        argv, env=controller_env(base), capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("printed", "code", "words"),
    [
        ('{"schema_version": 1, "error": {"message": "internal error: boom", '
         '"hint": "a bug", "exit_code": 3}}', 3, "internal error: boom a bug"),
        ("[]", 1, "JSON that is not a check document"),
    ],
)  # fmt: skip
def test_check_fails_the_task_when_envdoctor_could_not_run(
    tmp_path: Path, printed: str, code: int, words: str
) -> None:
    # An error document with exit 3 was "ok" (status null), and [] crashed the module.
    fake = tmp_path / "envdoctor"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{printed}\nEOF\nexit {code}\n")
    fake.chmod(0o755)
    playbook = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - envdoctor.envdoctor.envdoctor_check:\n"
        '        executable: "{{ fake }}"\n'
    )
    run = _play_one(tmp_path, playbook, fake=str(fake))
    assert "failed=1" in run.stdout, run.stdout[-2000:]
    assert words in run.stdout and "Traceback" not in run.stdout


def test_the_install_role_never_shows_the_index_credentials(tmp_path: Path) -> None:
    import base64
    import http.server
    import threading

    asked: list[str | None] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.headers.get("Authorization"))
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://deploy:R0leSecretPw@127.0.0.1:{server.server_address[1]}/simple"
        playbook = (
            "- hosts: all\n  gather_facts: false\n  roles:\n"
            "    - role: envdoctor.envdoctor.install\n"
        )
        run = _play_one(
            tmp_path,
            playbook,
            envdoctor_venv=str(tmp_path / "venv"),
            envdoctor_index_url=url,
            envdoctor_trusted_hosts=["127.0.0.1"],
            envdoctor_link="",
            envdoctor_python=sys.executable,
        )
    finally:
        server.shutdown()
    assert "failed=1" in run.stdout, run.stdout[-3000:]  # the index has no envdoctor
    assert "R0leSecretPw" not in run.stdout + run.stderr
    wanted = "Basic " + base64.b64encode(b"deploy:R0leSecretPw").decode()
    assert wanted in asked  # pip did ask that index, with its credentials
