"""One generator's scores pooled over several `streamdeblur-train eval` JSONs (the model card's pooled figures).

    python scripts/pool_eval.py docs/eval-deblurgan-lite-stage7.json docs/eval-deblurgan-lite-seed6.json@runs/lite-v11/last.pt

Each argument is an eval JSON, with `@LABEL` naming the generator where the file scored more
than one. Prints each set's gain over the blurry input on the chosen kind of frame (GoPro-style
by default) and the pooled gain over all their frames (a mean of per-frame gains), with the
pass-through PSNR (model(sharp) against sharp) pooled over every frame and its worst frame.
"""

from __future__ import annotations

import argparse
import json
import sys

from trainer.evaluate import pool


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("evals", nargs="+", metavar="EVAL.json[@LABEL]")
    ap.add_argument("--kind", default="gopro", help="Blur kind to pool: gopro, traj or real (default gopro).")
    ap.add_argument("--json", dest="json_out", help="Also write the pooled result here.")
    args = ap.parse_args()
    items = []
    for arg in args.evals:
        path, _, label = arg.partition("@")
        try:
            with open(path) as f:
                items.append((json.load(f), label or None))
        except (OSError, json.JSONDecodeError) as e:
            print(f"error: cannot read {path}: {e}", file=sys.stderr)
            return 1
    try:
        r = pool(items, kind=args.kind)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyError as e:
        print(f"error: an argument is not a `streamdeblur-train eval` JSON with per-frame scores (no {e}); rerun eval to write one", file=sys.stderr)
        return 1
    for s in r["sets"]:
        print(f"{s['root']:<24} {s['label'][-36:]:<36} {s['frames']:>4} {args.kind} frames  gain {s['gain']:+.2f} dB  worst pass-through {s['pass_through_worst']:.1f} dB")
    print(
        f"pooled: {r['frames']} {args.kind} frames, input {r['input_psnr']:.2f} dB, model {r['model_psnr']:.2f} dB, gain {r['gain']:+.2f} dB; "
        f"pass-through {r['pass_through']:.2f} dB (worst frame {r['pass_through_worst']:.1f})"
    )
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
