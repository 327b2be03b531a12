"""Suite-wide settings: the networks in tests are tiny, and one torch thread runs them fastest (two
threads on a busy 2-core machine can be many times slower)."""

import torch

torch.set_num_threads(1)
