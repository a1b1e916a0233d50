"""The contrastive foundation encoder task (the cardiac-MRI seed), at benchmark scale.

A vision encoder for image *sequences* (cine MRI; a single 2D image is a sequence of one frame) is
pretrained contrastively against the text of its reports (symmetric InfoNCE, learned temperature, as
the suite's domain CLIP), then judged by probes that need few or no labels:

- ``sequences``: the data format (folder of ``.npy``/NIfTI sequences + a CSV of reports, labels, targets);
- ``phantom``: a synthetic cardiac cine phantom with a known ejection fraction (not patient data);
- ``encoder``: a per-frame 2D tower with temporal attention/pooling, an open_clip text tower, pretraining;
- ``probes``: zero-shot, linear probe, fine-tune and from-scratch at label budgets, with seeds and 95 % CIs;
- ``experiment``: pretrain on each source (real, synthetic, both), probe, and summarise.
"""
