__version__ = "0.0.1"

# Written by hand, not exported from a notebook (nbdev only updates `__version__` here).
# A dependency imported by fastai calls `torch.jit.script`, which torch >= 2.10 flags as deprecated; the warning is not
# ours to act on and would open every notebook and every `uga-fast` command. Only that warning (and the next) is silenced.
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
# torchvision >= 0.29 flags its image decoders (what `read_image` uses for JPEG and PNG) as deprecated in favour of TorchCodec's,
# once per decoded image; not the user's to act on either. `read_image` falls back to PIL if a later torchvision drops them.
_warnings.filterwarnings('ignore', message=r'The image decoding and encoding capabilities of TorchVision are deprecated', category=DeprecationWarning)
