# Helpers shared by the tools/*.sh checks; sourced, not run.
#   root       the repository root
#   work       a throwaway directory, removed on exit
# Every check builds from a copy of the tree, never in it, so an in-tree build
# (the editable install's module, build/) is neither used nor touched.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/leaky_c_check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# copy_tree DEST: the working tree's tracked and untracked (not ignored) files.
copy_tree() {
    mkdir -p "$1"
    git -C "$root" ls-files -z --cached --others --exclude-standard \
        | (cd "$root" && tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) \
        | tar -C "$1" -xf -
}

# apt_install PACKAGE...: install Debian packages (as root, or with sudo).
apt_install() {
    echo "== installing $*"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# need_apt COMMAND PACKAGE...: install the packages unless COMMAND exists.
need_apt() {
    command -v "$1" >/dev/null || { shift; apt_install "$@"; }
}

# pip_install PYTHON ARGS...: `PYTHON -m pip install -q ARGS`, without the
# lines about index locations that do not exist.
pip_install() {
    local py="$1"; shift
    "$py" -m pip install -q "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
    return "${PIPESTATUS[0]}"
}

# run_suite PYTHON [pytest arguments]: the suite in $root/tests against the
# leaky_c that PYTHON's environment has installed; fails unless that leaky_c
# lies outside the source tree and runs the C backend.  pytest's script, not
# `python -m pytest`, so the tree's root is not on sys.path; arguments are
# relative to the root, as in the tree.
run_suite() {
    local py="$1"; shift
    (cd "$work" && "$py" - "$root" <<'PY'
import os, sys
import leaky_c
where = os.path.dirname(os.path.abspath(leaky_c.__file__))
assert not where.startswith(sys.argv[1] + os.sep), f"leaky_c imported from the source tree: {where}"
assert leaky_c.backend == "cffi", f"leaky_c from {where} runs the {leaky_c.backend} backend"
print(f"== Python {sys.version.split()[0]}: testing leaky_c from {where}")
PY
    ) && (cd "$root" && "$(dirname "$py")/pytest" -p no:cacheprovider "$@")
}
