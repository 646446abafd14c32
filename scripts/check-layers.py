#!/usr/bin/env python3
"""Fails when an #include points up the layers.

The layers are the modelgate_layer(NAME DEPS...) lines of CMakeLists.txt: a file in src/NAME/ may
include headers of NAME and of every layer NAME reaches through DEPS, nothing else. A unit test in
test/unit/NAME/ is held to the same rule, so a layer's tests build without the layers above it.

Usage: check-layers.py [SOURCE_DIR]   (default: the checkout this script is in)
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
cmake = (root / "CMakeLists.txt").read_text()

direct = {}
for m in re.finditer(r"^modelgate_layer\((\w+)([^)]*)\)", cmake, re.M):
    direct[m.group(1)] = [d[len("modelgate_"):] for d in m.group(2).split() if d.startswith("modelgate_")]
if not direct:
    sys.exit(f"{root}/CMakeLists.txt: no modelgate_layer(...) lines; cannot tell the layers")


def below(layer, seen=None):
    seen = set() if seen is None else seen
    for d in direct.get(layer, []):
        if d not in seen:
            seen.add(d)
            below(d, seen)
    return seen


include = re.compile(r'^\s*#\s*include\s+"([a-z0-9_]+)/[^"]+"')
errors = []
checked = 0
for base, depth in ((root / "src", 1), (root / "test" / "unit", 1)):
    for path in sorted(base.rglob("*")):
        if path.suffix not in (".h", ".cpp") or len(path.relative_to(base).parts) <= depth:
            continue
        layer = path.relative_to(base).parts[0]
        if layer not in direct:
            errors.append(f"{path.relative_to(root)}: folder {layer}/ is not a layer of CMakeLists.txt "
                          f"(add a modelgate_layer({layer} ...) line or move the file)")
            continue
        allowed = below(layer) | {layer}
        checked += 1
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = include.match(line)
            if not m or m.group(1) not in direct or m.group(1) in allowed:
                continue
            errors.append(f"{path.relative_to(root)}:{n}: {layer}/ includes {m.group(1)}/, a layer above "
                          f"or beside it (it may include: {', '.join(sorted(allowed))}); move the code "
                          f"down, or pass what it needs in from above")

for e in errors:
    print(e)
if errors:
    sys.exit(f"{len(errors)} include(s) against the layer order (docs/architecture.md)")
print(f"{checked} files, every #include points down the layers")
