"""The GPU tests' shared device parametrisation lives in cuda_devices.py beside this file."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # cuda_devices: DEVICES, cuda_param
