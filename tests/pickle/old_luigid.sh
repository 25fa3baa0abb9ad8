#!/usr/bin/env bash
# Install an older luigi release (default 2.8.13) into its own virtualenv,
# .venv-luigi-<version>, for tests/pickle/test_luigid_pickle.py. Idempotent.
# luigi 2.8 and its tornado 5 do not import on Python 3.10+ (collections.MutableMapping,
# inspect.ArgSpec), so a Python 3.9 or 3.8 is used; without one, say so and leave the
# test to report it.
set -euo pipefail
VERSION="${1:-2.8.13}"
cd "$(dirname "$0")/../.."
VENV=".venv-luigi-$VERSION"
[ -f "$VENV/.complete" ] && exit 0
PY=""
# On PATH, or installed by pyenv without being selected.
PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}"
for cand in python3.9 python3.8 "$PYENV_ROOT"/versions/3.9*/bin/python3 \
    "$PYENV_ROOT"/versions/3.8*/bin/python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv' >/dev/null 2>&1; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "old_luigid.sh: no Python 3.8 or 3.9 here; luigi $VERSION cannot be installed" >&2
  exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "luigi==$VERSION"
touch "$VENV/.complete"
