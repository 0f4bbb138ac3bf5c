#!/bin/sh
# The segmentation demo (docs/training.md#segmentation-on-fashion-mnist-scenes): scenes of
# Fashion-MNIST garments (scripts/make-seg-scenes.mjs), an FCN on ResNeSt-14d trained on them
# with `resnest train`, measured with `resnest eval`, validation scenes segmented with
# `resnest segment`, and the picture docs/images/segmentation-demo.svg made of them.
#
#   sh scripts/segmentation-demo.sh [WORK_DIR] [EPOCHS]
#
# Needs Debian's dataset-fashion-mnist. Takes about 25 minutes on 2 cores at 4 epochs.
set -e
DIR=${1:-build/seg-demo}
EPOCHS=${2:-4}
npm run build --silent
node scripts/make-seg-scenes.mjs "$DIR/scenes" --train 2000 --val 200
npx resnest train --arch fcn_resnest14d --data "$DIR/scenes" --num-classes 11 --epochs "$EPOCHS" --batch-size 16 \
  --crop-size 64 --base-size 64 --lr 0.02 --seed 1 --log "$DIR/train.jsonl" --save "$DIR/fcn-scenes.pth"
npx resnest eval --arch fcn_resnest14d --weights "$DIR/fcn-scenes.pth" --data "$DIR/scenes" --base-size 64 --json > "$DIR/eval.json"
npx resnest eval --arch fcn_resnest14d --weights "$DIR/fcn-scenes.pth" --data "$DIR/scenes" --base-size 64
SCENES="$DIR/scenes/images/validation"
npx resnest segment "$SCENES/scene00000.png" "$SCENES/scene00001.png" "$SCENES/scene00002.png" "$SCENES/scene00003.png" \
  --arch fcn_resnest14d --weights "$DIR/fcn-scenes.pth" --size 64 --out "$DIR/segmented" --json > "$DIR/segmented.json"
mkdir -p docs/images
node scripts/segmentation-picture.mjs "$DIR" docs/images/segmentation-demo.svg
