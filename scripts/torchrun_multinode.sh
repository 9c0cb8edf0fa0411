#!/bin/bash
# medrl on N nodes x G GPUs with torchrun: run this same command on every node, with NODE_RANK
# set to 0 .. N-1 and MASTER_ADDR to node 0's address. Lightning reads torchrun's environment.
#   NODE_RANK=0 MASTER_ADDR=10.1.2.3 bash scripts/torchrun_multinode.sh     # on node 0
#   NODE_RANK=1 MASTER_ADDR=10.1.2.3 bash scripts/torchrun_multinode.sh     # on node 1
set -euo pipefail
NNODES=${NNODES:-2}          # N
GPUS_PER_NODE=${GPUS_PER_NODE:-4}   # G
source .venv/bin/activate
torchrun \
    --nnodes="$NNODES" --nproc-per-node="$GPUS_PER_NODE" \
    --node-rank="$NODE_RANK" --master-addr="$MASTER_ADDR" --master-port="${MASTER_PORT:-29500}" \
    "$(command -v medrl)" fit \
    --config configs/refiner_voxel.yaml \
    --config configs/multinode.yaml \
    --trainer.num_nodes="$NNODES" \
    --trainer.devices="$GPUS_PER_NODE" \
    --data.dataset=/data/my_dataset/dataset.json \
    --model.init_args.segmenter_checkpoint=runs/segmenter/checkpoints/last.ckpt
