"""Draws book/ch04/transformer.svg: the Transformer of Vaswani et al. (2017), redrawn for the course.

Each box carries the number of the page section that turns it into code. Phone-first: the drawing
is 360 units wide, so at 390 px its 11-unit labels are 11 px. Run: python book/ch04/make_diagram.py
"""
from pathlib import Path

W, H = 360, 640
ENC, DEC, BW, BH = 92, 268, 148, 28          # column centres, box width and height
COLOURS = {"emb": "#f4dbe6", "attn": "#fde3c7", "norm": "#fbf3c3", "ff": "#dbe6f4", "out": "#e4dcef"}

parts = []


def box(cx, y, label, kind, number):
    x = cx - BW / 2
    parts.append(f'<g class="box" id="box-{number}-{label.split()[0].lower()}">'
                 f'<rect x="{x}" y="{y}" width="{BW}" height="{BH}" rx="5" fill="{COLOURS[kind]}" stroke="#555753"/>'
                 f'<text x="{cx + 6}" y="{y + BH / 2 + 4}" text-anchor="middle">{label}</text>'
                 f'<circle cx="{x + 11}" cy="{y + BH / 2}" r="7.5" fill="#555753"/>'
                 f'<text x="{x + 11}" y="{y + BH / 2 + 3.5}" text-anchor="middle" class="num">{number}</text></g>')


def arrow(x1, y1, x2, y2):
    parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" class="flow" marker-end="url(#head)"/>')


def path(d):
    parts.append(f'<path d="{d}" class="flow" fill="none" marker-end="url(#head)"/>')


def text(x, y, s, cls="", anchor="middle"):
    parts.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}" class="{cls}">{s}</text>')


def add_circle(cx, cy):
    parts.append(f'<circle cx="{cx}" cy="{cy}" r="8" fill="white" stroke="#555753"/>'
                 f'<line x1="{cx - 5}" y1="{cy}" x2="{cx + 5}" y2="{cy}" stroke="#555753"/>'
                 f'<line x1="{cx}" y1="{cy - 5}" x2="{cx}" y2="{cy + 5}" stroke="#555753"/>')


def sine_icon(cx, cy):
    parts.append(f'<circle cx="{cx}" cy="{cy}" r="12" fill="white" stroke="#555753"/>'
                 f'<path d="M{cx - 8},{cy} q4,-9 8,0 t8,0" fill="none" stroke="#3465a4" stroke-width="1.5"/>')


# --- bottom: inputs, embeddings, positions ---------------------------------------------------
text(ENC, 628, "inputs (source tokens)", "small")
text(DEC, 628, "outputs, shifted right", "small")
for cx in (ENC, DEC):
    arrow(cx, 615, cx, 592)
box(ENC, 563, "Input embedding", "emb", 1)
box(DEC, 563, "Output embedding", "emb", 1)
for cx, side in ((ENC, -1), (DEC, 1)):
    arrow(cx, 563, cx, 539)
    add_circle(cx, 530)
    sine_icon(cx + side * 44, 530)
    arrow(cx + side * 32, 530, cx + side * 9, 530)
    text(cx + side * 44, 510, "2 positions", "small")

arrow(ENC, 522, ENC, 492)
arrow(DEC, 522, DEC, 492)

# --- the encoder block (N×) -------------------------------------------------------------------
parts.append(f'<rect x="{ENC - BW / 2 - 8}" y="296" width="{BW + 16}" height="192" rx="8" class="frame"/>')
text(ENC - BW / 2 - 8, 290, "Encoder block 8 (N×)", "label", "start")
box(ENC, 446, "Multi-head attention", "attn", 5)
box(ENC, 400, "Add &amp; Norm", "norm", 6)
box(ENC, 350, "Feed forward", "ff", 7)
box(ENC, 304, "Add &amp; Norm", "norm", 6)
# q, k, v into the attention from below
for dx in (-30, 0, 30):
    path(f"M{ENC},486 L{ENC + dx},486 L{ENC + dx},476")
arrow(ENC, 446, ENC, 430)
arrow(ENC, 400, ENC, 380)
arrow(ENC, 350, ENC, 334)
# residual connections around each sub-layer
path(f"M{ENC},489 L{ENC - BW / 2 - 4},489 L{ENC - BW / 2 - 4},414 L{ENC - BW / 2},414")
path(f"M{ENC},392 L{ENC - BW / 2 - 4},392 L{ENC - BW / 2 - 4},318 L{ENC - BW / 2},318")

# --- the decoder block (N×) -------------------------------------------------------------------
parts.append(f'<rect x="{DEC - BW / 2 - 8}" y="158" width="{BW + 16}" height="330" rx="8" class="frame"/>')
text(DEC + BW / 2 + 8, 152, "Decoder block 9 (N×)", "label", "end")
box(DEC, 446, "Masked attention", "attn", 4)
box(DEC, 400, "Add &amp; Norm", "norm", 6)
box(DEC, 338, "Cross-attention", "attn", 9)
box(DEC, 292, "Add &amp; Norm", "norm", 6)
box(DEC, 228, "Feed forward", "ff", 7)
box(DEC, 182, "Add &amp; Norm", "norm", 6)
for dx in (-30, 0, 30):
    path(f"M{DEC},486 L{DEC + dx},486 L{DEC + dx},476")
arrow(DEC, 446, DEC, 430)
arrow(DEC, 400, DEC, 368)
arrow(DEC, 338, DEC, 322)
arrow(DEC, 292, DEC, 258)
arrow(DEC, 228, DEC, 212)
path(f"M{DEC},489 L{DEC + BW / 2 + 4},489 L{DEC + BW / 2 + 4},414 L{DEC + BW / 2},414")
path(f"M{DEC},390 L{DEC + BW / 2 + 4},390 L{DEC + BW / 2 + 4},306 L{DEC + BW / 2},306")
path(f"M{DEC},280 L{DEC + BW / 2 + 4},280 L{DEC + BW / 2 + 4},196 L{DEC + BW / 2},196")
# the query comes from the decoder, keys and values from the encoder's output
path(f"M{DEC},382 L{DEC + 30},382 L{DEC + 30},368")
path(f"M{ENC},304 L{ENC},270 L180,270 L180,382 L{DEC - 30},382 L{DEC - 30},368")
text(ENC + 4, 264, "keys, values", "small", "start")

# --- the output: linear and softmax -----------------------------------------------------------
arrow(DEC, 182, DEC, 132)
box(DEC, 104, "Linear", "out", 10)
arrow(DEC, 104, DEC, 88)
box(DEC, 60, "Softmax", "out", 10)
arrow(DEC, 60, DEC, 38)
text(DEC, 30, "next-token probabilities", "small")

# --- a key to the numbers ---------------------------------------------------------------------
key = ["1 embedding ×√d_model", "2 sinusoidal positions", "3 scaled dot-product attention",
       "4 masks", "5 multi-head attention", "6 residual + LayerNorm", "7 feed-forward",
       "8 encoder block", "9 decoder block, cross-attention", "10 output projection, softmax"]
text(10, 24, "Sections of this page", "label", "start")
for i, line in enumerate(key):
    text(10, 42 + 14.5 * i, line, "small", "start")

svg = f'''<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"
 aria-labelledby="title desc" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">
<title id="title">The Transformer, redrawn</title>
<desc id="desc">Encoder on the left, decoder on the right. Tokens are embedded (1) and positions added (2);
the encoder block (8) is multi-head self-attention (5) and a feed-forward net (7), each followed by
Add and Norm (6), repeated N times. The decoder block (9) has masked self-attention (4), then
cross-attention whose keys and values come from the encoder, then a feed-forward net; a linear layer
and a softmax (10) give next-token probabilities.</desc>
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
<path d="M0,0 L10,5 L0,10 z" fill="#3465a4"/></marker>
<style>.flow{{stroke:#3465a4;stroke-width:1.4}} .frame{{fill:#f6f6f4;stroke:#888a85;stroke-dasharray:4 3}}
.small{{font-size:10px;fill:#2e3436}} .label{{font-size:11px;font-weight:bold;fill:#2e3436}}
.num{{font-size:9px;fill:white;font-weight:bold}}</style></defs>
<rect width="{W}" height="{H}" fill="white"/>
{chr(10).join(parts)}
</svg>
'''
Path(__file__).with_name("transformer.svg").write_text(svg)
print("wrote", Path(__file__).with_name("transformer.svg"))
