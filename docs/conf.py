"""Sphinx configuration: `sphinx-build -W docs docs/_build/html` (see CONTRIBUTING.md).

Sphinx with MyST (Markdown pages) and napoleon (the NumPy docstring style that
leaky_c's docstrings use), as NumPy, SciPy and pandas document themselves;
napoleon ships with Sphinx.  The version comes from the package itself.
"""

import leaky_c  # the installed package (pip install -e ".[docs]")

project = "leaky_c"
author = "the leaky_c maintainers"
copyright = "2026, " + author
release = version = leaky_c.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "demo_summary.md"]  # included by demo.md
suppress_warnings = []

autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
nitpicky = False

html_theme = "alabaster"
html_title = f"leaky_c {release}"
html_static_path = []
html_theme_options = {"description": "Fast, bit-exact Leaky ReLU kernels in C for NumPy",
                      "fixed_sidebar": True}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
