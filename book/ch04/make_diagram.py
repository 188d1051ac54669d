"""Writes book/ch04/transformer.svg, the Transformer of Vaswani et al. (2017) redrawn for the course.

The drawing is course_lib.drawing's (boxes named after course_lib.transformer's modules, arrows
checked against the data flow of a forward pass by tests/test_course_lib_ch04_diagram.py); this
script only writes it to the file the page shows. Run: .venv/bin/python book/ch04/make_diagram.py
"""
from pathlib import Path

from course_lib.drawing import transformer_svg

path = Path(__file__).with_name("transformer.svg")
path.write_text(transformer_svg())
print("wrote", path)
