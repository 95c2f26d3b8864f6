#!/usr/bin/python3
"""PyTorch reference for bench/: one training step (forward, backward,
SGD with momentum 0.9, dampening 0) of the same LeNet or MLP, on a fixed
synthetic batch, with torch.set_num_threads(2).

Run with Debian's python3-torch:

    /usr/bin/python3 bench/torch_lenet.py --model lenet --batch 128

prints the median step time in ms (one line of JSON with every step's time).
With --serve it reads lines "MODEL BATCH STEPS WARMUP [THREADS]" on stdin and
answers each with one JSON line, so that cmd/speedbench can interleave its repeats
with Go's without paying torch's start-up each time.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

THREADS = 2
CLASSES = 10


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3072, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, CLASSES)

    def forward(self, x):
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def measure(model_name, batch, steps, warmup):
    torch.manual_seed(1)
    model = {"lenet": LeNet, "mlp": MLP}[model_name]()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, CLASSES, (batch,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append((t1 - t0) * 1e3)
    return {"model": model_name, "batch": batch, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "median_ms": statistics.median(times), "ms": times}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["lenet", "mlp"], default="lenet")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=THREADS, help="torch.set_num_threads (default 2)")
    p.add_argument("--serve", action="store_true", help="answer MODEL BATCH STEPS WARMUP [THREADS] lines on stdin")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not a.serve:
        r = measure(a.model, a.batch, a.steps, a.warmup)
        print(json.dumps(r))
        return
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        try:
            torch.set_num_threads(int(f[4]) if len(f) > 4 else a.threads)
            r = measure(f[0], int(f[1]), int(f[2]), int(f[3]))
        except Exception as e:  # report, keep serving
            r = {"error": f"{line.strip()}: {e}"}
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
