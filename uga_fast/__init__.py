__version__ = "0.0.1"

# Written by hand, not exported from a notebook (nbdev only updates `__version__` here).
# A dependency imported by fastai calls `torch.jit.script`, which torch >= 2.10 flags as deprecated; the warning is not
# ours to act on and would open every notebook and every `uga-fast` command. Only that warning is silenced.
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
