"""Entry script of the PyInstaller bundle: the same ``main`` that the installed ``livedet`` command runs.

PyInstaller needs a script file, and ``desktop/__main__.py`` cannot be one because it is
part of a package (relative imports), so the bundle starts here.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # Without this, a frozen app that starts a worker process re-runs itself instead (Windows, macOS).
    multiprocessing.freeze_support()
    from desktop.__main__ import main

    sys.exit(main())
