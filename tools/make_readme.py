"""Render README.md from nbs/index.ipynb without Quarto (GitHub markdown: prose, code cells, their text outputs).
With Quarto installed, `nbdev-readme` does the same job. `--check` exits 1 when README.md is out of date."""
import json, sys
from pathlib import Path

def render(nb_path):
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if src.lstrip().startswith('#| hide') or '#| hide' in src.split('\n')[:2]: continue
        if c['cell_type'] == 'markdown': out.append(src)
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in src.split('\n') if not l.startswith('#|'))
            if code.strip(): out.append(f'```python\n{code}\n```')
            texts = [''.join(o.get('text', '')) for o in c.get('outputs', []) if o.get('output_type') == 'stream'] + \
                    [''.join(o['data']['text/plain']) for o in c.get('outputs', []) if 'data' in o and 'text/plain' in o['data'] and 'image/png' not in o['data']]
            if any(t.strip() for t in texts): out.append('```\n' + '\n'.join(t.rstrip() for t in texts if t.strip()) + '\n```')
    return '\n\n'.join(out).rstrip() + '\n'

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    txt = '<!-- generated from nbs/index.ipynb by tools/make_readme.py (or nbdev-readme): edit the notebook, not this file -->\n\n' + render(root/'nbs'/'index.ipynb')
    if '--check' in sys.argv:
        if (root/'README.md').read_text() != txt: sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`')
    else: (root/'README.md').write_text(txt)
