"""doclayout's own small layout detector: a dense, anchor-free one-stage model (YOLO/FCOS family).

CSP backbone -> PAN neck -> decoupled shared head on strides 8/16/32: per location, 17 class
logits, a centerness logit and 4 distances (left, top, right, bottom) to the box edges.

Parameter names are the tensor names of the exported model.safetensors; doclayout's C port
(src/models/dense.c) builds the same network from config.json and folds each BatchNorm into
its conv. Keep the two in step: tests/test_parity_dense.c compares them on committed outputs.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "model_type": "dl_dense",
    "architectures": ["DocLayoutDenseDetector"],
    "widths": [16, 32, 64, 128, 192],   # stem, stage1..4
    "depths": [1, 1, 2, 1],             # CSP bottlenecks per stage
    "neck_width": 64,
    "head_width": 64,
    "head_convs": 2,
    "strides": [8, 16, 32],
    "max_detections": 300,
    "nms_threshold": 0.5,
    "batch_norm_eps": 1e-5,
}


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k=3, s=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.silu(x) if self.act else x


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1 = ConvBN(c, c, 3)
        self.cv2 = ConvBN(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class CSP(nn.Module):
    """cv1 (1x1) -> halves a, b; b -> n bottlenecks, each output kept; concat -> cv2 (1x1)."""

    def __init__(self, cin, cout, n):
        super().__init__()
        h = cout // 2
        self.cv1 = ConvBN(cin, 2 * h, 1)
        self.m = nn.ModuleList(Bottleneck(h) for _ in range(n))
        self.cv2 = ConvBN((2 + n) * h, cout, 1)

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        ys = [a, b]
        for m in self.m:
            b = m(b)
            ys.append(b)
        return self.cv2(torch.cat(ys, 1))


class DenseDetector(nn.Module):
    def __init__(self, config, num_labels=17):
        super().__init__()
        w, d = config["widths"], config["depths"]
        n, hw = config["neck_width"], config["head_width"]
        self.strides = config["strides"]
        self.num_labels = num_labels
        self.stem = ConvBN(3, w[0], 3, 2)
        self.stages = nn.ModuleList()
        for i in range(4):
            self.stages.append(nn.ModuleDict({"down": ConvBN(w[i], w[i + 1], 3, 2),
                                              "csp": CSP(w[i + 1], w[i + 1], d[i])}))
        self.lateral = nn.ModuleList(ConvBN(w[i], n, 1) for i in (2, 3, 4))
        self.td = nn.ModuleList(ConvBN(n, n, 3) for _ in range(2))      # P4, P3 smoothing
        self.down = nn.ModuleList(ConvBN(n, n, 3, 2) for _ in range(2))  # N3->, N4->
        self.bu = nn.ModuleList(ConvBN(n, n, 3) for _ in range(2))      # N4, N5
        self.cls_convs = nn.ModuleList(ConvBN(n if i == 0 else hw, hw, 3) for i in range(config["head_convs"]))
        self.reg_convs = nn.ModuleList(ConvBN(n if i == 0 else hw, hw, 3) for i in range(config["head_convs"]))
        self.cls_pred = nn.Conv2d(hw, num_labels, 1)
        self.box_pred = nn.Conv2d(hw, 4, 1)
        self.ctr_pred = nn.Conv2d(hw, 1, 1)
        nn.init.constant_(self.cls_pred.bias, -math.log((1 - 0.01) / 0.01))
        nn.init.constant_(self.box_pred.bias, 1.0)

    def features(self, x):
        x = self.stem(x)
        outs = []
        for i, st in enumerate(self.stages):
            x = st["csp"](st["down"](x))
            if i >= 1:
                outs.append(x)
        c3, c4, c5 = outs
        p5 = self.lateral[2](c5)
        p4 = self.td[0](self.lateral[1](c4) + F.interpolate(p5, scale_factor=2.0, mode="nearest"))
        p3 = self.td[1](self.lateral[0](c3) + F.interpolate(p4, scale_factor=2.0, mode="nearest"))
        n4 = self.bu[0](p4 + self.down[0](p3))
        n5 = self.bu[1](p5 + self.down[1](n4))
        return [p3, n4, n5]

    def head(self, f):
        c, r = f, f
        for m in self.cls_convs:
            c = m(c)
        for m in self.reg_convs:
            r = m(r)
        return self.cls_pred(c), self.box_pred(r), self.ctr_pred(r)

    def forward(self, x):
        """-> cls [N, S, L], box [N, S, 4] (log distances / stride), ctr [N, S], S = all levels' cells."""
        cls, box, ctr = [], [], []
        for f in self.features(x):
            a, b, c = self.head(f)
            cls.append(a.flatten(2).transpose(1, 2))
            box.append(b.flatten(2).transpose(1, 2))
            ctr.append(c.flatten(2).transpose(1, 2))
        return torch.cat(cls, 1), torch.cat(box, 1), torch.cat(ctr, 1)[..., 0]


def locations(h, w, strides, device=None):
    """Cell centres (x, y) in input pixels and the stride of each, level by level: [S, 2], [S]."""
    pts, st = [], []
    for s in strides:
        ys, xs = torch.meshgrid(torch.arange(h // s, device=device), torch.arange(w // s, device=device), indexing="ij")
        p = torch.stack([(xs.flatten() + 0.5) * s, (ys.flatten() + 0.5) * s], 1).float()
        pts.append(p)
        st.append(torch.full((p.shape[0],), float(s), device=device))
    return torch.cat(pts), torch.cat(st)


def decode(box, pts, st):
    """box [.., S, 4] log distances -> corners [.., S, 4] in input pixels."""
    d = torch.exp(box.clamp(max=8.0)) * st[:, None]
    return torch.stack([pts[:, 0] - d[..., 0], pts[:, 1] - d[..., 1], pts[:, 0] + d[..., 2], pts[:, 1] + d[..., 3]], -1)


def detector_outputs(cls, box, ctr, pts, st, width, height):
    """The form doclayout's engine returns: per-location label logits whose sigmoid is the final
    score sqrt(sigmoid(cls) * sigmoid(ctr)), and boxes as normalised (cx, cy, w, h)."""
    score = torch.sqrt(torch.sigmoid(cls) * torch.sigmoid(ctr)[..., None]).clamp(1e-6, 1 - 1e-6)
    logits = torch.log(score / (1 - score))
    c = decode(box, pts, st)
    boxes = torch.stack([(c[..., 0] + c[..., 2]) / 2 / width, (c[..., 1] + c[..., 3]) / 2 / height,
                         (c[..., 2] - c[..., 0]) / width, (c[..., 3] - c[..., 1]) / height], -1)
    return logits, boxes
