#!/usr/bin/python3
"""torchvision's evaluation resize on two small images, the reference for a card's
`"resize": "center-crop", "resizeShorter": S`: test/fixtures/resize-crop/.

For each case: Resize(S) (the shorter side to S, the longer to int(S * long / short), bilinear,
anti-aliased: PIL's resampling) then CenterCrop([H, W]) (offsets round((size - crop) / 2), Python's
round), the resized size and the crop's offsets, and the 8-bit result. The images are smooth colour
ramps with a diagonal stripe: steep enough that a crop one pixel off differs by tens of levels, smooth
enough that two anti-aliased bilinear resamplers (PIL's and libvips') agree to a few levels.

    /usr/bin/python3 tools/resize_crop_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "resize-crop"


def ramp(width, height):
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / (width - 1)
    g = 255 * y / (height - 1)
    b = 127.5 + 127.5 * np.sin((x + y) / 3.0)  # the stripe: a period of ~19 pixels along the diagonal
    return np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def case(img, s, crop):
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_long = int(s * long / short)
    resized_size = [s, new_long] if w <= h else [new_long, s]  # [width, height]
    resized = T.Resize(s, interpolation=T.InterpolationMode.BILINEAR, antialias=True)(img)
    assert list(resized.size) == resized_size, (resized.size, resized_size)
    out = T.CenterCrop(crop)(resized)
    top = int(round((resized_size[1] - crop[0]) / 2.0))
    left = int(round((resized_size[0] - crop[1]) / 2.0))
    data = np.asarray(out, dtype=np.uint8)
    assert data.shape == (crop[0], crop[1], 3)
    return {"resizeShorter": s, "size": list(crop), "resized": resized_size, "left": left, "top": top,
            "data": data.reshape(-1).tolist()}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {}
    # landscape 37×23 and portrait 21×34: shrinking (anti-aliasing matters) and the half-pixel offsets
    # (37 → 25 wide at S 16 ... see the manifest for each case's resized size and offsets)
    for name, (w, h), specs in [
        ("landscape.png", (37, 23), [(16, [12, 12]), (20, [14, 19]), (23, [16, 16])]),
        ("portrait.png", (21, 34), [(14, [12, 12]), (17, [16, 15])]),
    ]:
        Image.fromarray(ramp(w, h)).save(OUT / name)
        img = Image.open(OUT / name).convert("RGB")
        cases[name] = [case(img, s, crop) for s, crop in specs]
    manifest = {
        "torch": torch.__version__, "torchvision": torchvision.__version__, "pil": Image.__version__,
        "transform": "Resize(S, bilinear, antialias=True) then CenterCrop([H, W]) on the PIL image",
        "images": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest) + "\n")


if __name__ == "__main__":
    main()
