"""Write data/manifests/<name>.sha256 from the installed Debian packages (once per version).

The manifest lists every image the course reads (the same files ``data.load_dataset`` picks)
with its SHA-256; ``python -m helpers.data fetch`` checks package files against it.

    python -m tools.make_manifests            # needs tuxpaint-stamps-default, openclipart-png
"""

from __future__ import annotations

from pathlib import Path

from helpers import data, fetch

LAYOUTS = {
    "tuxpaint": (data.TUXPAINT_LAYOUT, data.TUXPAINT_EXCLUDE),
    "cartoons": (data.CARTOON_LAYOUT, ()),
    "openclipart": (data.OPENCLIPART_LAYOUT, ()),
}


def main() -> None:
    for name, (layout, exclude) in LAYOUTS.items():
        root = Path(data.SYSTEM_PATHS["tuxpaint" if name == "cartoons" else name])
        files = [path for path, _ in data._glob_classes(root, layout, exclude)]
        if not files:
            raise SystemExit(f"{root} holds no images: install {fetch.SOURCES[name].package}")
        print(f"{fetch.write_manifest(name, root, files)}: {len(files)} images")


if __name__ == "__main__":
    main()
