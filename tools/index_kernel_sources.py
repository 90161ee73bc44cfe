"""Write netlab/kernel/linux-6.12.json: where each modelled kernel function is defined in a Linux 6.12 tree.

    python tools/index_kernel_sources.py /path/to/linux-6.12   (apt-get install linux-source-6.12; untar it)
"""
import json
import sys
from pathlib import Path

from netlab.kernel.source_index import INDEX_PATH, build_index, modelled_functions


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/index_kernel_sources.py <linux-6.12 source tree>", file=sys.stderr)
        return 2
    index = build_index(Path(argv[0]), modelled_functions())
    INDEX_PATH.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(index)} functions to {INDEX_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
