#!/usr/bin/env bash
# GPU training check, one command: the seed's EfficientNet-b1 training throughput at 240 and 600 px
# in fp32 and bf16 (bench/train.py), then a short real `scalp_models train` run on generated data
# with 0 and 8 DataLoader workers, to see mixed precision engage and whether the input pipeline
# keeps the GPU busy.
#
#     bash bench/gpu_check.sh [OUT_DIR]        # needs a CUDA GPU and requirements.txt installed
set -euo pipefail
out=${1:-gpu_check}
py=${PYTHON:-python3}
mkdir -p "$out"
work=$(mktemp -d)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi -L || true

"$py" bench/train.py --device cuda --cases scratch-b1@240,scratch-b1@600 --precision fp32,bf16 \
    --batch-size 32 --warmup 3 --steps 15 --threads 8 | tee "$out/bench_train_gpu.md"

"$py" -m datasets_prep simulate --out "$work/sim" --images 400 --seed 0
"$py" -m datasets_prep build --aihub-root "$work/sim" --out "$work/prepared" --workers 8 2>/dev/null
for workers in 0 8; do
    "$py" -m scalp_models train --data "$work/prepared" --symptom hair_loss --base scratch-b1 \
        --max_steps 40 --batch_size 32 --eval_steps 1000 --num_workers "$workers" --quiet \
        --out "$work/models_w$workers" 2>&1 | grep -v Warning | tail -2
    "$py" - "$work/models_w$workers/hair_loss/training_config.json" "$workers" <<'PY' | tee -a "$out/train_gpu.md"
import json, sys
c = json.load(open(sys.argv[1]))
a, m = c["training_args"], c["train_metrics"]
print(f"| scalp_models train, scratch-b1 @ {c['input_size']} | workers {sys.argv[2]} | bf16 {a.get('bf16')} fp16 {a.get('fp16')} "
      f"| {m['train_samples_per_second']:.1f} images/s over {c['global_step']} steps ({m['train_runtime']:.1f} s) |")
PY
done
