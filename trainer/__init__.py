"""streamdeblur's trainer (``streamdeblur-train``): make-data, train, eval, export, and the tools
behind the model card's figures (calibrate, pool-eval, video-psnr, side-by-side).

Typical use on a CPU machine::

    streamdeblur-train make-data --out data/synth                 # GoPro layout, held-out test photos
    streamdeblur-train train --out runs/lite --lr 1e-3 --val-data data/synth
    streamdeblur-train train --out runs/lite --resume runs/lite/last.pt   # continue exactly
    streamdeblur-train eval data/synth -w runs/lite/best.pt
    streamdeblur-train export runs/lite/best.pt -o streamdeblur/weights/deblurgan-lite

Library modules: ``photos`` (the photo catalogue), ``images`` (image files, uint8 <->
tensor), ``blur`` and ``synth`` (blur synthesis, one training pair), ``datasets`` (the
batches: GoPro-layout, synthetic, mixed; worker processes), ``make_data``, ``config`` (a
run's settings), ``critic`` and ``losses`` (PatchGAN, WGAN-GP, content losses), ``train``
(the loop), ``validation`` and ``checkpoint`` (scoring during a run; checkpoints, growth,
export), ``evaluate``, ``pool``, ``video_score``, ``side_by_side``, ``calibrate`` and
``metrics`` (the reports). Commands: ``commands/`` (the only modules that print), registered
by ``cli``.
"""
