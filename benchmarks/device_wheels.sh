#!/usr/bin/env bash
# Run here, before benchmarks/device_checks.sh runs on a lent GPU machine: downloads into
# .whl/ the wheels of envdoctor's runtime dependencies, and of what the loopback lab of
# benchmarks/mirrors_scale.py needs (cryptography, pytest), for that machine's Python
# (default 3.12, CPython, manylinux x86_64).  That machine reaches no package index;
# the folder travels with the `device` tool's `carry`.
#
#   bash benchmarks/device_wheels.sh [PYTHON_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-3.12}"
python="${PYTHON:-python3}"

mapfile -t wants < <("$python" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
print(*project["dependencies"], sep="\n")
test = project["optional-dependencies"]["test"]
print(*(want for want in test if want.startswith(("cryptography", "pytest"))), sep="\n")
PY
)

rm -rf .whl
platforms=()
for tag in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 \
    manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
"$python" -m pip download --quiet --only-binary=:all: --implementation cp \
    --python-version "$version" "${platforms[@]}" -d .whl "${wants[@]}"
echo "$(find .whl -name '*.whl' | wc -l) wheels, $(du -sh .whl | cut -f1), in .whl/ for CPython $version"
