"""Training throughput of FMnet in PyTorch (CPU), for bench:pose-train.

Times full optimisation steps (forward in train mode, heatmap + offset loss, backward, grad-norm
clip 50, AdamW step) at a batch size on random 256x256 frames. With FACEMAP_SRC set, the network
is Facemap's own FMnet (facemap.pose.facemap_network); otherwise an independent PyTorch definition
of the same architecture. Prints one JSON line on stdout.
Usage: /usr/bin/python3 fmnet_torch_train.py --batch 8 --reps 3 --threads 2 [--facemap]
"""
import argparse, json, os, sys, time

import torch
import torch.nn as nn


class Unit(nn.Module):
    def __init__(self, cin, cout, relu=True):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin, eps=1e-5, momentum=0.05)
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.relu = relu

    def forward(self, x):
        x = self.bn(x)
        if self.relu:
            x = torch.relu(x)
        return self.conv(x)


class Block(nn.Module):
    def __init__(self, cin, cout, first=False):
        super().__init__()
        self.a = Unit(cin, cout, relu=not first)
        self.b = Unit(cout, cout)

    def forward(self, x):
        return self.b(self.a(x))


class OwnFMnet(nn.Module):
    """Same layer list as the reference description: 5 encoder levels, 2 decoder steps, 3 heads."""

    def __init__(self, k, ch=(32, 64, 128, 128, 200)):
        super().__init__()
        self.enc = nn.ModuleList([Block(1 if i == 0 else ch[i - 1], ch[i], first=i == 0) for i in range(len(ch))])
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.dec = nn.ModuleList([Block(ch[-1 - j] + ch[-2 - j], ch[-2 - j]) for j in range(2)])
        self.heads = nn.ModuleList([nn.Conv2d(ch[-3], k, 1) for _ in range(3)])

    def forward(self, x):
        outs = []
        for i, b in enumerate(self.enc):
            if i > 0:
                x = self.pool(x)
            x = b(x)
            outs.append(x)
        for j, b in enumerate(self.dec):
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = b(torch.cat([x, outs[-2 - j]], 1))
        hm = torch.relu(self.heads[0](x))
        return hm, self.heads[1](x), self.heads[2](x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keypoints", type=int, default=15)
    p.add_argument("--facemap", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    k = a.keypoints
    if a.facemap:
        sys.path.insert(0, os.environ["FACEMAP_SRC"])
        from facemap.pose.facemap_network import FMnet

        net = FMnet(img_ch=1, output_ch=k, labels_id=[str(i) for i in range(k)], channels=[32, 64, 128, 128, 200], device=torch.device("cpu"))
        which = "facemap FMnet (FACEMAP_SRC)"
    else:
        net = OwnFMnet(k)
        which = "PyTorch FMnet (independent definition)"
    nparams = sum(q.numel() for q in net.parameters() if q.requires_grad)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.0)
    x = torch.rand(a.batch, 1, 256, 256)
    g = torch.arange(64, dtype=torch.float32)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    lbl = 10 + 44 * torch.rand(a.batch, k, 2)
    dy = yy - lbl[..., 0, None, None]
    dx = xx - lbl[..., 1, None, None]
    hm_t = torch.exp(-(dx**2 + dy**2) / 18)
    hm_t = 10 * hm_t / (1e-3 + hm_t.sum((-2, -1), keepdim=True))
    mask = (dx**2 + dy**2).sqrt() <= 3
    times = []
    for i in range(a.reps + 1):
        t0 = time.perf_counter()
        out = net(x)
        hm, ox, oy = out[0], out[1], out[2]
        hm = 10 * hm / (1e-4 + hm.sum((-2, -1), keepdim=True))
        loss = (hm_t - hm).abs().sum((-2, -1)) + 0.5 * (mask * ((dx / 6 - ox) ** 2 + (dy / 6 - oy) ** 2 + 1e-12).sqrt()).sum((-2, -1))
        loss = loss.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 50)
        opt.step()
        s = time.perf_counter() - t0
        print(f"[torch] batch {a.batch} step {i}{' (warm-up)' if i == 0 else ''}: {s:.2f} s", file=sys.stderr, flush=True)
        if i > 0:
            times.append(s)
    times.sort()
    med = times[(len(times) - 1) // 2]
    print(json.dumps({"engine": which, "torch": torch.__version__, "threads": a.threads, "parameters": nparams, "batch": a.batch,
                      "stepSeconds": [round(t, 3) for t in times], "framesPerSecond": round(a.batch / med, 3)}))


if __name__ == "__main__":
    main()
