"""Probes of a pretrained sequence encoder: zero-shot, linear probe, fine-tune, and from scratch.

- **zero-shot** (no labels): the score of label ``k`` for a sequence is the cosine similarity of its
  embedding with the embedding of the label's prompt; AUROC per label (macro mean) and top-1 accuracy
  over the exclusive labels (e.g. the diagnosis), whose chance level is 1 / K.
- **linear probe**: frozen, L2-normalised embeddings, standardised; one L2-regularised logistic
  regression per label and a ridge regression (alpha by leave-one-out) per numeric target.
- **fine-tune**: the encoder plus a linear head trained end to end (softmax cross-entropy over the
  exclusive labels, binary cross-entropy on the others, mean squared error on standardised targets); **scratch** is the same from random initialisation.

Label budgets are nested, stratified subsets of the probe training set: a fraction of each class
(at least one sequence per class), or ``n`` per class; each seed draws its own permutation. Metrics:
AUROC (macro over labels with both classes in the test rows), accuracy (exclusive labels), and for
targets MAE, R² and Pearson r. Summaries over seeds are mean ± a 95 % Student-t interval.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.augment import flip_and_shift
from bench.foundation.encoder import EncoderConfig, SequenceEncoder
from bench.reference.contrastive import cosine_lr
from bench.foundation.sequences import SequenceSet
from bench.stats import t_interval
from bench.training import train_steps


# -- summaries ---------------------------------------------------------------------------------------
def mean_ci(values, level: float = 0.95) -> dict:
    """{"mean", "ci": [lo, hi] (Student t over the values, :func:`bench.stats.t_interval`;
    None for fewer than 2), "values"}. Missing values (None, NaN) are left out."""

    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if len(v) == 0:
        return {"mean": None, "ci": None, "values": []}
    m, (lo, hi) = t_interval(v, level)
    return {"mean": m, "ci": [lo, hi] if len(v) >= 2 else None, "values": v.tolist()}


# -- budgets -----------------------------------------------------------------------------------------
def budget_names(fractions: list[float], per_class: list[int]) -> list[str]:
    return [f"{f * 100:g}%" for f in fractions] + [f"{n}/class" for n in per_class]


def budget_indices(strata: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Rows of a stratified label budget ("10%" or "5/class"); nested across budgets for one seed."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(strata):
        idx = np.flatnonzero(strata == c)
        idx = idx[rng.permutation(len(idx))]
        if name.endswith("%"):
            k = max(1, int(round(float(name[:-1]) / 100 * len(idx))))
        else:
            k = int(name.split("/")[0])
        out.append(idx[:k])
    return np.sort(np.concatenate(out))


# -- metrics -----------------------------------------------------------------------------------------
def classification_metrics(scores: np.ndarray, labels: np.ndarray, exclusive: list[int],
                           cols: np.ndarray | None = None) -> dict:
    """AUROC (macro over the columns ``cols`` with both classes present) and exclusive-label accuracy."""
    from sklearn.metrics import roc_auc_score

    cols = np.arange(labels.shape[1]) if cols is None else np.asarray(cols)
    aucs = [roc_auc_score(labels[:, k], scores[:, k]) for k in cols if 0 < labels[:, k].sum() < len(labels)]
    out = {"auroc": float(np.mean(aucs)) if aucs else None}
    ex = [k for k in exclusive if k in set(cols.tolist())]
    if len(ex) >= 2:
        rows = labels[:, ex].sum(1) == 1
        if rows.any():
            pred = scores[rows][:, ex].argmax(1)
            out["accuracy"] = float((pred == labels[rows][:, ex].argmax(1)).mean())
    return out


def regression_metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    ok = np.isfinite(true) & np.isfinite(pred)
    p, t = pred[ok], true[ok]
    if len(t) < 3:
        return {"mae": None, "r2": None, "pearson_r": None}
    ss_tot = float(((t - t.mean()) ** 2).sum())
    r = float(np.corrcoef(p, t)[0, 1]) if p.std() > 0 and t.std() > 0 else None
    return {"mae": float(np.abs(p - t).mean()), "r2": 1.0 - float(((p - t) ** 2).sum()) / ss_tot if ss_tot > 0 else None,
            "pearson_r": r}


def prediction_metrics(scores: np.ndarray, preds: np.ndarray, test: SequenceSet, prefix: str) -> dict:
    """Pooled metrics ``{prefix}_{metric}`` and per group ``{group: {...}}`` of one probe's predictions."""
    pooled = {f"{prefix}_{k}": v for k, v in classification_metrics(scores, test.labels, test.exclusive).items()}
    for r, name in enumerate(test.target_names[:preds.shape[1]]):
        pooled.update({f"{prefix}_{name}_{k}": v for k, v in regression_metrics(preds[:, r], test.targets[:, r]).items()})
    groups = {}
    if len(test.group_names) > 1:
        for g, gname in enumerate(test.group_names):
            rows = test.groups == g
            if not rows.any():
                continue
            cols = np.flatnonzero((test.label_groups == g) | (test.label_groups == -1))
            m = classification_metrics(scores[rows], test.labels[rows], test.exclusive, cols)
            groups[gname] = {f"{prefix}_{k}": v for k, v in m.items()}
    return {"pooled": pooled, "per_group": groups}


# -- zero-shot ---------------------------------------------------------------------------------------
def zero_shot(image_emb: np.ndarray, prompt_emb: np.ndarray, test: SequenceSet) -> dict:
    """Cosine similarities to the label prompts as scores; no labels are used to build them."""
    scores = image_emb @ prompt_emb.T
    return prediction_metrics(scores, np.zeros((len(test), 0)), test, "zero_shot")


# -- linear probe ------------------------------------------------------------------------------------
def linear_probe(train_emb: np.ndarray, train: SequenceSet, test_emb: np.ndarray, C: float = 1.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label scores (N_test, K) and target predictions (N_test, R) from frozen embeddings."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(train_emb)
    xtr, xte = sc.transform(train_emb), sc.transform(test_emb)
    scores = np.zeros((len(test_emb), train.labels.shape[1]))
    for k in range(train.labels.shape[1]):
        y = train.labels[:, k]
        if y.min() == y.max():  # one class only in this budget: a constant score
            scores[:, k] = float(y[0])
            continue
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(xtr, y)
        scores[:, k] = clf.decision_function(xte)
    preds = np.full((len(test_emb), train.targets.shape[1]), np.nan)
    for r in range(train.targets.shape[1]):
        ok = np.isfinite(train.targets[:, r])
        if ok.sum() >= 2:
            reg = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(xtr[ok], train.targets[ok, r])
            preds[:, r] = reg.predict(xte)
    return scores, preds


# -- fine-tune / scratch -----------------------------------------------------------------------------
class ProbeNet(nn.Module):
    def __init__(self, encoder: nn.Module, embed_dim: int, n_out: int):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(embed_dim, n_out)

    def forward(self, x):
        return self.head(self.encoder(x))


def finetune(encoder: SequenceEncoder | None, cfg: EncoderConfig, train: SequenceSet, test: SequenceSet, *,
             steps: int, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
             device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Fine-tune a copy of ``encoder`` (or a fresh one when None: from scratch) with a linear head."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    enc = copy.deepcopy(encoder) if encoder is not None else SequenceEncoder(cfg)
    k, r = train.labels.shape[1], train.targets.shape[1]
    net = ProbeNet(enc, cfg.embed_dim, k + r).to(device)
    mu = np.nanmean(train.targets, 0) if r else np.zeros(0)
    sd = np.nanstd(train.targets, 0) if r else np.zeros(0)
    mu, sd = np.nan_to_num(mu), np.where(np.nan_to_num(sd) > 0, np.nan_to_num(sd), 1.0)
    x_all = torch.from_numpy(np.ascontiguousarray(train.frames, dtype=np.float32))
    y_all = torch.from_numpy(train.labels.astype(np.float32))
    t_all = torch.from_numpy(((train.targets - mu) / sd).astype(np.float32))
    ex = list(train.exclusive) if len(train.exclusive) >= 2 else []  # one-of-K: softmax cross-entropy
    other = [j for j in range(k) if j not in set(ex)]  # the rest: binary cross-entropy each
    enc_lr = lr * (0.3 if encoder is not None else 1.0)
    opt = torch.optim.AdamW([{"params": net.encoder.parameters(), "lr": enc_lr},
                             {"params": net.head.parameters(), "lr": lr}], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_lr(s, steps, max(steps // 10, 1)))
    bs = min(batch_size, len(x_all))

    def loss_of(step: int, micro: int) -> torch.Tensor:
        idx = torch.randperm(len(x_all), generator=gen)[:bs]
        out = net(flip_and_shift(x_all[idx], gen).to(device))
        y = y_all[idx].to(device)
        loss = out.sum() * 0
        if other:
            loss = loss + F.binary_cross_entropy_with_logits(out[:, other], y[:, other])
        if ex:
            one = y[:, ex].sum(1) == 1
            if one.any():
                loss = loss + F.cross_entropy(out[:, ex][one], y[:, ex][one].argmax(1))
        if r:
            t = t_all[idx].to(device)
            ok = torch.isfinite(t)
            if ok.any():
                loss = loss + F.mse_loss(out[:, k:][ok], t[ok])
        return loss

    train_steps(net, opt, loss_of, steps, what="fine-tuning", scheduler=sched)
    net.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(test), 128):
            outs.append(net(torch.from_numpy(np.ascontiguousarray(test.frames[i:i + 128], np.float32)).to(device)).cpu().numpy())
    out = np.concatenate(outs).astype(np.float64)
    return out[:, :k], out[:, k:] * sd + mu
