#!/usr/bin/env bash
# The GPU checks (issues 6 and 18) as one prepared command, for a session lent a device machine.
#
# The device machine's image holds Python 3.12 with NumPy, SciPy, PyTorch, CuPy, Numba and
# the rest of deltaprop's dependencies except array-api-compat, and it cannot fetch
# anything, so that one wheel travels with the working tree. Here, once:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl array-api-compat==1.16.0
#
# then, with the device tool: run(command="bash benchmarks/gpu.sh", carry=[".whl"], timeout_s=540).
# It writes gpu.txt (the GPU, and the engine on CUDA tensors and CuPy arrays against NumPy)
# and GPU.md (W2 and W4 timed against PyTorch eager and torch.compile, with issue 18's W4 target)
# under $OUT; commit GPU.md as benchmarks/GPU.md.
set -euo pipefail
out=${OUT:-.}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD/src" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"
python3 benchmarks/gpu_check.py --device cuda 2>&1 | tee -a "$out/gpu.txt" || echo "gpu_check: see the DISAGREES lines above" | tee -a "$out/gpu.txt"
python3 benchmarks/run.py --device cuda --repeats 5 --out "$out/GPU.md"
