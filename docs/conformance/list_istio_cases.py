#!/usr/bin/env python3
"""Lists every test-case name of the Istio integration tests that docs/conformance.md accounts for.

Usage: python3 docs/conformance/list_istio_cases.py <istio git dir> [commit] > docs/conformance/istio-cases.tsv

A case name is a Go `name:` field (TrafficTestCase, TrafficCall, table-driven structs), a map key of a table of
cases, or a t.NewSubTest(...) argument. Raw strings (the YAML), quoted strings and comments are blanked before
matching, so YAML `name:` keys are not counted. Output: file, line, Go function, name expression (a literal in quotes,
or the Go expression that generates the names).
"""
import re
import subprocess
import sys

FILES = [
    "tests/integration/pilot/common/routing.go",
    "tests/integration/security/egress_gateway_origination_test.go",
    "tests/integration/security/egress_sidecar_tls_origination_test.go",
    "tests/integration/security/filebased_tls_origination/destination_rule_tls_test.go",
    "tests/integration/security/filebased_tls_origination/egress_gateway_origination_test.go",
    "tests/integration/security/filebased_tls_origination/main_test.go",
]


def blank(src):
    """Blanks raw strings and comments (keeping line breaks); keeps interpreted strings and runes as they are."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == "`":
            j = src.index("`", i + 1)
            out.append("`" + re.sub(r"[^\n]", " ", src[i + 1:j]) + "`")
            i = j + 1
        elif c in "\"'":
            j = i + 1
            while src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


PATTERNS = [
    re.compile(r"^\s*name\s*:(?!=)\s*(.+?),?\s*$"),
    re.compile(r'^\s*("[^"]+")\s*:\s*\{\s*$'),
    re.compile(r"NewSubTest\((.+?)\)\.Run"),
]


def main(repo, commit="HEAD"):
    for path in FILES:
        src = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"],
                             capture_output=True, text=True, check=True).stdout
        function = "-"
        for number, line in enumerate(blank(src).split("\n"), 1):
            if m := re.match(r"func (?:\([^)]*\) )?(\w+)", line):
                function = m.group(1)
            for pattern in PATTERNS:
                if m := pattern.search(line):
                    print(f"{path}\t{number}\t{function}\t{m.group(1)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
