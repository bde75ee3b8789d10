#!/usr/bin/env python
"""Render the notebooks to a static HTML doc site in `docs/`, without Quarto.

    python tools/build_site.py [--out docs]    build the site (GitHub Pages serves the committed docs/)
    python tools/build_site.py --check         exit 1 if docs/ is not the build of the notebooks as they are

With Quarto installed, `nbdev-docs` builds the full site (search, themes). Quarto cannot be installed offline, so
this script makes the same pages from the same sources: nbdev's notebook processors (front matter, hidden and
exported cells, `show_doc` cells, `#| hide_line`, links between names) — none that executes code: the notebooks carry
their outputs — then nbconvert's HTML exporter, each page wrapped with a sidebar of all pages. Math (`$…$`, `$$…$$`)
is rendered in the browser by the KaTeX copy in `tools/katex/`, so the site works offline. Every page records the
sha256 of its notebook (`<meta name="uga-source">`): `--check` (and tests/test_site.py) compare them with the notebooks.
Open `docs/index.html`.
"""
import argparse, hashlib, html, re, shutil, sys
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
NBS, DOCS, KATEX = ROOT/'nbs', ROOT/'docs', ROOT/'tools'/'katex'
HINT = "run `bash run.sh docs` and commit docs/"
# nbdev's default processors for docs, less the ones that execute code (add_show_docs, exec_show_docs) or only make
# sense to Quarto (mv_exports, add_fold, insert_warning)
PROCS = [FrontmatterProc, populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_show_doc,
         rm_export, clean_magics, hide_, add_links, strip_hidden_metadata]
CSS = """
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;line-height:1.5}
nav{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;background:#f6f7f9;border-right:1px solid #e3e5e8;padding:16px}
nav a{display:block;color:#333;text-decoration:none;padding:3px 6px;border-radius:4px;font-size:14px}
nav a.here{background:#dde6f5;font-weight:600} nav .brand{font-size:18px;font-weight:700;margin-bottom:10px}
main{margin-left:262px;max-width:980px;padding:8px 32px 64px;min-width:0}
h1{margin-bottom:4px} p.description{color:#555;font-size:1.1em;margin-top:0}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%}
div.jp-InputArea pre,div.highlight pre{background:#f7f7f9;padding:8px 10px;border-radius:4px}
div.jp-OutputArea-output pre{padding:4px 10px} img{max-width:100%}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:left} table.dataframe td{text-align:right}
.jp-RenderedHTMLCommon:has(>table){overflow-x:auto}
a.anchor-link{visibility:hidden;text-decoration:none;margin-left:4px} :hover>a.anchor-link{visibility:visible}
.jp-InputPrompt,.jp-OutputPrompt{display:none} blockquote{color:#555;border-left:3px solid #ccd;margin-left:0;padding-left:12px}
.katex-display{overflow-x:auto;overflow-y:hidden}
"""
# KaTeX's auto-render: `$$…$$` display, `$…$` inline; it skips pre, code, script, style, textarea by default
MATH = ("renderMathInElement(document.querySelector('main'),{delimiters:[{left:'$$',right:'$$',display:true},"
        "{left:'$',right:'$',display:false}],throwOnError:false})")
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="uga-source" content="{src}">
<title>{title} – uga_fast</title><link rel="stylesheet" href="site.css">
<link rel="stylesheet" href="katex/katex.min.css">
<script defer src="katex/katex.min.js"></script>
<script defer src="katex/contrib/auto-render.min.js" onload="{math}"></script></head>
<body><nav><div class="brand">uga_fast</div>{nav}</nav>
<main><h1>{title}</h1>{desc}{body}</main></body></html>
"""
SOURCE_RE = re.compile(r'<meta name="uga-source" content="([^"]*)">')

def notebooks():
    "The notebooks that make pages, index first"
    nbs = [p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_')]
    return sorted(nbs, key=lambda p: (p.stem != 'index', p.relative_to(NBS).as_posix()))

def source_id(path:Path):
    "What a page records of its notebook: `nbs/<relpath> <sha256>`"
    return f"{path.relative_to(ROOT).as_posix()} {hashlib.sha256(path.read_bytes()).hexdigest()}"

def _directives(src):
    "The `#| key: value` lines of a cell, and its source without them"
    d, keep = {}, []
    for line in src.splitlines():
        m = re.match(r'\s*#\|\s*([\w-]+)\s*:?\s*(.*)$', line)
        if m: d[m.group(1)] = m.group(2).strip()
        else: keep.append(line)
    return d, '\n'.join(keep).strip('\n')

def _cell(c, i):
    "A processed cell as a plain nbformat cell dict (source hidden for `#| echo: false`), or None if nothing is left"
    src = c.get('source') or ''
    if c.cell_type == 'raw' and src.startswith('---'): return None                  # Quarto front matter
    if not src.strip() and not c.get('outputs'): return None                         # removed by a processor
    if c.cell_type == 'markdown' and src.startswith('<!-- WARNING'): return None
    d, src = _directives(src)
    cell = dict(cell_type=c.cell_type, metadata={}, source=src, id=f'c{i}')
    if c.cell_type == 'code':
        if d.get('echo') == 'false' or not src:
            cell.update(source='', metadata=dict(jupyter=dict(source_hidden=True), transient=dict(remove_source=True)))
        cell.update(outputs=[dict(o) for o in c.get('outputs', [])], execution_count=None)
    return cell

def process(path:Path):
    "nbdev's processors over the notebook at `path`: (front matter dict, nbformat notebook)"
    p = NBProcessor(path, PROCS, rm_directives=False, process=True)
    fm = dict(getattr(p.nb, 'frontmatter_', {}) or {})
    cells = []
    for c in p.nb.cells:
        if (cell := _cell(c, len(cells))) is not None: cells.append(cell)
    return fm, nbformat.from_dict(dict(cells=cells, metadata=dict(p.nb.metadata), nbformat=4, nbformat_minor=5))

def _inline_code(s:str)->str:
    "Markdown's `code` spans of a one-line text (the description) as <code>"
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', s)

def page_name(path:Path, fm:dict):
    if path.stem == 'index': return 'index.html'
    return fm.get('output-file') or re.sub(r'^\d+[a-z]?_', '', path.stem) + '.html'

def page_names(pages):
    "[(page name, title)] of the processed notebooks; exits naming the notebooks when two would write the same page"
    names = [(page_name(p, fm), fm.get('title') or p.stem) for p, _, fm, _ in pages]
    by_name = {}
    for (p, *_), (n, _) in zip(pages, names): by_name.setdefault(n, []).append(p.relative_to(ROOT).as_posix())
    if clash := [f"{' and '.join(ps)} make the same page {n}" for n, ps in by_name.items() if len(ps) > 1]:
        sys.exit('\n'.join(clash + ["rename one, or give it `output-file: <name>.html` in its front matter"]))
    return names

def render_body(ex:HTMLExporter, nb, host:str):
    "The notebook as the inside of the page's <main>"
    body = ex.from_notebook_node(nb)[0]
    body = body[body.find('<main'):body.rfind('</main>') + 7] if '<main' in body else body[body.find('<body'):body.rfind('</body>')]
    body = re.sub(r'^<(body|main)[^>]*>', '', body).removesuffix('</main>').replace(host, '')  # links to the published site → relative
    return re.sub(r'\{target=(?:"|&quot;)_blank(?:"|&quot;)[^}]*\}', '', body)       # Quarto's link attributes of show_doc

def clear(out:Path):
    "Remove what an earlier build wrote to `out` (pages, stylesheet, KaTeX), and nothing else"
    for p in [*out.glob('*.html'), out/'site.css']: p.unlink(missing_ok=True)
    if (out/'katex').exists(): shutil.rmtree(out/'katex')

def build(out:Path):
    "Write a page per notebook, and the KaTeX files, to `out`; the page names"
    pages = [(p, source_id(p), *process(p)) for p in notebooks()]             # the hash of the bytes processed
    names = page_names(pages)
    out.mkdir(parents=True, exist_ok=True); clear(out)
    shutil.copytree(KATEX, out/'katex', ignore=shutil.ignore_patterns('README.md'))
    (out/'.nojekyll').write_text('')                                                 # GitHub Pages: serve the files as they are
    ex = HTMLExporter(template_name='lab'); ex.exclude_input_prompt = ex.exclude_output_prompt = True
    (out/'site.css').write_text(CSS + re.sub(r'/\*.*?\*/', '', HtmlFormatter().get_style_defs('.highlight')), encoding='utf-8')
    cfg = get_config(); host = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip('/') + '/'
    for (p, src, fm, nb), (name, title) in zip(pages, names):
        nav = ''.join(f'<a href="{n}"{" class=here" if n == name else ""}>{html.escape(t)}</a>' for n, t in names)
        desc = f'<p class="description">{_inline_code(html.escape(fm["description"]))}</p>' if fm.get('description') else ''
        (out/name).write_text(PAGE.format(src=html.escape(src), title=html.escape(title), math=MATH,
                                          nav=nav, desc=desc, body=render_body(ex, nb, host)), encoding='utf-8')
    print(f"wrote {len(pages)} pages to {out}/ (open {out/'index.html'})")
    return [n for n, _ in names]

def _sources(out:Path):
    "{notebook relpath: (page name, recorded sha256)} of the pages in `out`, and the pages that name no notebook"
    found, orphans = {}, []
    for page in sorted(out.glob('*.html')):
        m = SOURCE_RE.search(page.read_text(encoding='utf-8'))
        nb, _, sha = html.unescape(m.group(1)).rpartition(' ') if m else ('', '', '')
        if nb in found: orphans.append(f"{page.name}: a second page of {nb} (with {found[nb][0]})")
        elif nb and (ROOT/nb).is_file(): found[nb] = (page.name, sha)
        else: orphans.append(f"{page.name}: a page without a notebook ({nb or 'no uga-source'})")
    return found, orphans

def _katex_problems(out:Path):
    "The KaTeX files that `out/katex/` lacks or holds in another version than tools/katex/"
    if not (out/'katex').is_dir(): return ["katex/: missing"]
    rels = sorted(f.relative_to(KATEX).as_posix() for f in KATEX.rglob('*') if f.is_file() and f.name != 'README.md')
    bad = [r for r in rels if not (out/'katex'/r).is_file() or (out/'katex'/r).read_bytes() != (KATEX/r).read_bytes()]
    return [f"katex/{r}: missing or not the same as tools/katex/{r}" for r in bad]

def stale(out:Path=DOCS):
    "What makes `out` differ from a build of the notebooks as they are: a list of one-line problems, [] when current"
    if not out.is_dir(): return [f"{out}: no site there"]
    found, problems = _sources(out)
    for p in notebooks():
        nb, _, sha = source_id(p).rpartition(' ')
        if nb not in found: problems.append(f"{nb}: no page")
        elif found[nb][1] != sha: problems.append(f"{found[nb][0]}: out of date ({nb} changed since it was built)")
    if not (out/'site.css').is_file(): problems.append(f"{out}/site.css: missing")
    return problems + _katex_problems(out)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(DOCS), help='where the site goes (default: docs/)')
    ap.add_argument('--check', action='store_true', help='build nothing; exit 1 if the site in --out is not current')
    args = ap.parse_args(); out = Path(args.out)
    if not args.check: return build(out)
    if problems := stale(out):
        sys.exit('\n'.join(problems + [f"{out} is not the build of the notebooks: {HINT}"]))
    print(f"{out}/ is current ({len(notebooks())} pages)")

if __name__ == '__main__': main()
