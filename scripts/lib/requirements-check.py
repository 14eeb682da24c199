"""Exit 0 when this python has every pin of a requirements file and all they depend on.

Otherwise print the first requirement that is missing or of another version, and exit 1
(exit 3 when it cannot tell: no `packaging`, not even pip's copy).
"""

import sys
from importlib import metadata

try:
    from packaging.requirements import Requirement
except ImportError:
    try:
        from pip._vendor.packaging.requirements import Requirement
    except ImportError:
        sys.exit(3)


def first_missing(req, seen):
    key = (req.name.lower().replace("_", "-"), tuple(sorted(req.extras)))
    if key in seen:
        return None
    seen.add(key)
    try:
        dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        return str(req)
    if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
        return f"{req} (this python has {dist.version})"
    for text in dist.requires or []:
        dep = Requirement(text)
        if dep.marker and not any(dep.marker.evaluate({"extra": extra}) for extra in (req.extras or {""})):
            continue
        missing = first_missing(dep, seen)
        if missing:
            return missing
    return None


def main(path):
    seen = set()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            missing = first_missing(Requirement(text), seen)
            if missing:
                print(missing)
                return 1
    return 0


sys.exit(main(sys.argv[1]))
