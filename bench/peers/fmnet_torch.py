#!/usr/bin/env python3
"""FMnet inference speed in PyTorch (CPU), for bench/pose-infer.ts.

Usage: python3 bench/peers/fmnet_torch.py [--batches 1,16] [--reps N] [--threads 2] [--keypoints 15]

The network: Facemap's own FMnet (facemap/pose/facemap_network.py, imported from $FACEMAP_SRC at
run time, never vendored) when FACEMAP_SRC is set; otherwise an equivalent module written here from
the published architecture (channels [32, 64, 128, 128, 200], 256x256 input, BatchNorm -> ReLU ->
3x3 conv blocks, max-pool k3 s2 p1, two nearest-upsample + concat decoder blocks, three 1x1 heads).
Both have 2,148,271 trainable parameters for 15 keypoints (checked and printed).

Timed: the forward pass in eval mode under torch.no_grad() on a random float32 batch
[N, 1, 256, 256], one warm-up run, then --reps timed runs per batch size; the median gives
frames/s. torch.set_num_threads(--threads) and OMP/MKL threads are set before torch is imported.

Prints one JSON line on stdout: torch version, network source, threads, per batch size the run
seconds and frames/s, and peak RSS (ru_maxrss) of this process in MB.
"""
import argparse
import json
import os
import resource
import sys
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--batches", default="1,16")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keypoints", type=int, default=15)
    p.add_argument("--size", type=int, default=256)
    return p.parse_args()


def own_fmnet(torch, nn, F, n_out, channels):
    """FMnet from the architecture's description (used when FACEMAP_SRC is not set)."""

    def unit(ci, co, relu):
        layers = [nn.BatchNorm2d(ci, eps=1e-5, momentum=0.1)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(ci, co, 3, padding=1, bias=False))
        return nn.Sequential(*layers)

    def block(ci, co, first_relu=True):
        return nn.Sequential(unit(ci, co, first_relu), unit(co, co, True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList([block(1, channels[0], False)] + [block(channels[i - 1], channels[i]) for i in range(1, 5)])
            self.dec = nn.ModuleList([block(channels[4] + channels[3], channels[3]), block(channels[3] + channels[2], channels[2])])
            self.heads = nn.ModuleList([nn.Conv2d(channels[2], n_out, 1) for _ in range(3)])

        def forward(self, x):
            levels = []
            for i, b in enumerate(self.enc):
                if i > 0:
                    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
                x = b(x)
                levels.append(x)
            for k, b in enumerate(self.dec):
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = b(torch.cat((x, levels[-2 - k]), dim=1))
            return F.relu(self.heads[0](x)), self.heads[1](x), self.heads[2](x)

    return Net()


def main():
    args = parse()
    threads = str(args.threads)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = threads
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    channels = [32, 64, 128, 128, 200]
    src = os.environ.get("FACEMAP_SRC")
    if src:
        sys.path.insert(0, src)
        from facemap.pose.facemap_network import FMnet

        net = FMnet(
            img_ch=1,
            output_ch=args.keypoints,
            labels_id=[str(i) for i in range(args.keypoints)],
            channels=channels,
            device=torch.device("cpu"),
            kernel=3,
            shape=(args.size, args.size),
        )
        source = "facemap.pose.facemap_network.FMnet (%s)" % src
    else:
        net = own_fmnet(torch, nn, F, args.keypoints, channels)
        source = "own PyTorch FMnet (FACEMAP_SRC not set)"
    net.eval()
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    results = []
    with torch.no_grad():
        for n in [int(b) for b in args.batches.split(",")]:
            x = torch.rand(n, 1, args.size, args.size)
            net(x)
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                out = net(x)
                times.append(time.perf_counter() - t0)
            assert out[0].shape == (n, args.keypoints, args.size // 4, args.size // 4)
            med = sorted(times)[(len(times) - 1) // 2]
            results.append({"batch": n, "seconds": [round(t, 4) for t in times], "framesPerSecond": round(n / med, 3)})
            sys.stderr.write("[fmnet_torch] batch %d: %.2f frames/s\n" % (n, n / med))
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "network": source,
                "trainableParams": params,
                "threads": torch.get_num_threads(),
                "results": results,
                "peakRssMB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
