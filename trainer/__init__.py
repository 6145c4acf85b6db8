"""streamdeblur's trainer (``streamdeblur-train``): make-data, train, eval, export.

Typical use on a CPU machine::

    streamdeblur-train make-data --out data/synth                 # GoPro layout, held-out test photos
    streamdeblur-train train --out runs/lite --lr 1e-3 --val-data data/synth
    streamdeblur-train train --out runs/lite --resume runs/lite/last.pt   # continue exactly
    streamdeblur-train eval data/synth -w runs/lite/best.pt
    streamdeblur-train export runs/lite/best.pt -o streamdeblur/weights/deblurgan-lite

Modules: ``blur`` (blur synthesis), ``data`` (photos, datasets, make-data), ``critic``
and ``losses`` (PatchGAN, WGAN-GP, content losses), ``train`` (the loop), ``evaluate``
and ``metrics`` (PSNR/SSIM tables, export), ``cli`` (the command line).
"""
