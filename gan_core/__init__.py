"""GAN Studio's training engine: presets, data, the compiled GAN step, background runs on disk.

Never imports streamlit: the pages draw what `TrainingRun.snapshot()` and run directories hold.
"""

import os

# TensorFlow's C++ info logs drown the CLI's output; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
