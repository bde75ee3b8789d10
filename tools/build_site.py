#!/usr/bin/env python
"""Render the notebooks to a static HTML doc site in `_docs/`, without Quarto.

    python tools/build_site.py [--out _docs]

With Quarto installed, `nbdev-docs` builds the full site (search, themes). Quarto cannot be installed offline, so
this script makes the same pages from the same sources: nbdev's notebook processors (front matter, hidden and
exported cells, `show_doc` cells, `#| hide_line`, links between names) — none that executes code: the notebooks carry
their outputs — then nbconvert's HTML exporter, each page wrapped with a sidebar of all pages. Open `_docs/index.html`.
"""
import argparse, html, re, shutil
from pathlib import Path
import nbformat
from nbconvert import HTMLExporter
from pygments.formatters import HtmlFormatter
from nbdev.config import get_config
from nbdev.process import NBProcessor
from nbdev.frontmatter import FrontmatterProc
from nbdev.processors import (populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_show_doc,
                              rm_export, clean_magics, hide_, add_links, strip_hidden_metadata)

ROOT = Path(__file__).resolve().parents[1]
# nbdev's default processors for docs, less the ones that execute code (add_show_docs, exec_show_docs) or only make
# sense to Quarto (mv_exports, add_fold, insert_warning)
PROCS = [FrontmatterProc, populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_show_doc,
         rm_export, clean_magics, hide_, add_links, strip_hidden_metadata]
CSS = """
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;line-height:1.5}
nav{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;background:#f6f7f9;border-right:1px solid #e3e5e8;padding:16px}
nav a{display:block;color:#333;text-decoration:none;padding:3px 6px;border-radius:4px;font-size:14px}
nav a.here{background:#dde6f5;font-weight:600} nav .brand{font-size:18px;font-weight:700;margin-bottom:10px}
main{margin-left:262px;max-width:980px;padding:8px 32px 64px}
h1{margin-bottom:4px} p.description{color:#555;font-size:1.1em;margin-top:0}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
div.jp-InputArea pre,.input_area pre,div.highlight pre{background:#f7f7f9;padding:8px 10px;border-radius:4px;overflow-x:auto}
div.jp-OutputArea-output pre{padding:4px 10px;overflow-x:auto} img{max-width:100%}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
.jp-InputPrompt,.jp-OutputPrompt{display:none} blockquote{color:#555;border-left:3px solid #ccd;margin-left:0;padding-left:12px}
"""
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – uga_fast</title><style>{css}</style>
<script>window.MathJax={{tex:{{inlineMath:[['$','$']]}}}};</script>
<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script></head>
<body><nav><div class="brand">uga_fast</div>{nav}</nav>
<main><h1>{title}</h1>{desc}{body}</main></body></html>
"""

def _directives(src):
    "The `#| key: value` lines of a cell, and its source without them"
    d, keep = {}, []
    for line in src.splitlines():
        m = re.match(r'\s*#\|\s*([\w-]+)\s*:?\s*(.*)$', line)
        if m: d[m.group(1)] = m.group(2).strip()
        else: keep.append(line)
    return d, '\n'.join(keep).strip('\n')

def process(path:Path):
    "nbdev's processors over the notebook at `path`: (front matter dict, nbformat notebook)"
    p = NBProcessor(path, PROCS, rm_directives=False, process=True)
    fm = dict(getattr(p.nb, 'frontmatter_', {}) or {})
    cells = []
    for c in p.nb.cells:
        src = c.get('source') or ''
        if c.cell_type == 'raw' and src.startswith('---'): continue               # Quarto front matter
        if not src.strip() and not c.get('outputs'): continue                        # removed by a processor
        if c.cell_type == 'markdown' and src.startswith('<!-- WARNING'): continue
        d, src = _directives(src)
        cell = dict(cell_type=c.cell_type, metadata={}, source=src, id=f'c{len(cells)}')
        if c.cell_type == 'code':
            if d.get('echo') == 'false' or not src: cell['metadata'] = dict(jupyter=dict(source_hidden=True), transient=dict(remove_source=True))
            cell.update(outputs=[dict(o) for o in c.get('outputs', [])], execution_count=None)
            if d.get('echo') == 'false' or not src: cell['source'] = ''
        cells.append(cell)
    nb = nbformat.from_dict(dict(cells=cells, metadata=dict(p.nb.metadata), nbformat=4, nbformat_minor=5))
    return fm, nb

def page_name(path:Path, fm:dict):
    if path.stem == 'index': return 'index.html'
    return fm.get('output-file') or re.sub(r'^\d+_', '', path.stem) + '.html'

def build(out:Path):
    cfg = get_config()
    nbs = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))
    nbs = sorted(nbs, key=lambda p: (p.stem != 'index', str(p.relative_to(ROOT/'nbs'))))
    pages = [(p, *process(p)) for p in nbs]
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    ex = HTMLExporter(template_name='lab'); ex.exclude_input_prompt = ex.exclude_output_prompt = True
    css = CSS + re.sub(r'/\*.*?\*/', '', HtmlFormatter().get_style_defs('.highlight'))
    host = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'
    names = [(page_name(p, fm), fm.get('title') or p.stem) for p, fm, _ in pages]
    for (p, fm, nb), (name, title) in zip(pages, names):
        body = ex.from_notebook_node(nb)[0]
        body = body[body.find('<main'):body.rfind('</main>') + 7] if '<main' in body else body[body.find('<body'):body.rfind('</body>')]
        body = re.sub(r'^<(body|main)[^>]*>', '', body).removesuffix('</main>').replace(host, '')  # links to the published site → relative
        body = re.sub(r'\{target=(?:"|&quot;)_blank(?:"|&quot;)[^}]*\}', '', body)      # Quarto's link attributes of show_doc
        nav = ''.join(f'<a href="{n}"{" class=here" if n == name else ""}>{html.escape(t)}</a>' for n, t in names)
        desc = f'<p class="description">{html.escape(fm["description"])}</p>' if fm.get('description') else ''
        (out/name).write_text(PAGE.format(title=html.escape(title), css=css, nav=nav, desc=desc, body=body), encoding='utf-8')
    print(f"wrote {len(pages)} pages to {out}/ (open {out/'index.html'})")
    return [n for n, _ in names]

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); ap.add_argument('--out', default=str(ROOT/'_docs'))
    build(Path(ap.parse_args().out))
