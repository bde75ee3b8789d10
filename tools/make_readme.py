"""Render README.md from nbs/index.ipynb without Quarto (GitHub markdown: prose, code cells, their text outputs, and their
figures, written to assets/readme_<n>.png). With Quarto installed, `nbdev-readme` does the same job.
`--check` exits 1 when README.md or its figures are out of date."""
import base64, json, sys
from pathlib import Path

def render(nb_path):
    "README text, and {relative path: PNG bytes} of its figures"
    nb = json.loads(Path(nb_path).read_text())
    out, figs = [], {}
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if src.lstrip().startswith('#| hide') or '#| hide' in src.split('\n')[:2]: continue
        if c['cell_type'] == 'markdown': out.append(src)
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in src.split('\n') if not l.startswith('#|'))
            if code.strip() and '#| echo: false' not in src: out.append(f'```python\n{code}\n```')
            outs = c.get('outputs', [])
            texts = [''.join(o.get('text', '')) for o in outs if o.get('output_type') == 'stream'] + \
                    [''.join(o['data']['text/plain']) for o in outs if 'data' in o and 'text/plain' in o['data'] and 'image/png' not in o['data']]
            if any(t.strip() for t in texts): out.append('```\n' + '\n'.join(t.rstrip() for t in texts if t.strip()) + '\n```')
            for o in outs:
                if 'image/png' in o.get('data', {}):
                    name = f'assets/readme_{len(figs)}.png'
                    figs[name] = base64.b64decode(''.join(o['data']['image/png']))
                    out.append(f'![figure {len(figs)}]({name})')
    return '\n\n'.join(out).rstrip() + '\n', figs

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    txt, figs = render(root/'nbs'/'index.ipynb')
    txt = '<!-- generated from nbs/index.ipynb by tools/make_readme.py (or nbdev-readme): edit the notebook, not this file -->\n\n' + txt
    if '--check' in sys.argv:
        stale = [n for n, b in figs.items() if not (root/n).is_file() or (root/n).read_bytes() != b]
        if (root/'README.md').read_text() != txt or stale:
            sys.exit('README.md or its figures are out of date with nbs/index.ipynb: run `python tools/make_readme.py`')
    else:
        (root/'README.md').write_text(txt)
        for n, b in figs.items(): (root/n).parent.mkdir(exist_ok=True); (root/n).write_bytes(b)
