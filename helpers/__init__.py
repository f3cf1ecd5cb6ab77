"""Transfer Learning Lab helpers: the plumbing behind the course notebooks.

One module per job, from the bottom up (no module imports one above it):

- ``config`` — profiles, paths, device choice, precision, seeding, environment printout
- ``syntax`` — code as a syntax tree written alike by every Python 3.10+ (the code key's text)
- ``stats`` — verdicts that tell a tie from ignorance: paired intervals (seeds, fixed test
  images, re-split pools), equivalence margins, power, Holm's adjustment
- ``claims`` — a notebook's ledger of verdicts, Holm-adjusted per family of claims
- ``preprocessing`` — uint8 images → a backbone's input (resize, channels, mean/std),
  batched augmentation
- ``fetch`` — getting the photo datasets onto a machine (apt, Debian package files)
- ``data`` — the dataset registry, uint8 tensor datasets, image folders, balanced splits
- ``uploads`` — your images from a folder, a zip (unpacked safely) or an upload on Colab
- ``models`` — backbones, heads, freezing, BatchNorm policies, parameter groups
- ``peft`` — training few parameters: LoRA adapters, biases or norms only (BitFit), weight-space
  interpolation (WiSE-FT) and soups
- ``features`` — CNN codes and per-stage features, cached on disk
- ``similarity`` — how far images are from ImageNet, read from BatchNorm's stored statistics
- ``probes`` — linear classifiers on features (C chosen on validation)
- ``prefix`` — a frozen prefix computed once: leading stages that train unchanged, run once
- ``training`` — ``fit``/``evaluate``, the LR range test, 03's fine-tuning recipe
- ``classifier`` — a fine-tuned classifier to keep: one file with weights, class names and
  preprocessing; prediction on new images
- ``metrics`` — error analysis: predictions, confusion matrix, per-class and balanced accuracy,
  the most confident mistakes
- ``codekey`` — what a results row was computed with: the code a run reaches, the inputs it
  reads (the key that keeps cached rows honest)
- ``experiments`` — grids of runs in results files, row selection, mean ± interval, verdicts
- ``lab`` — the lab world: fixed task splits, the lab CNN's pretraining
- ``strategies`` — notebook 04's six transfer strategies, its rules, one recipe and the equal
  selection budget
- ``advisor`` — which strategy for your own image folder: measured, recommended, verified
- ``fcconv`` — FC layers as convolutions, class-evidence maps
- ``plotting`` and ``widgets`` — figures, and ipywidgets over them
"""

__version__ = "0.1.0"
