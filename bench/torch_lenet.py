#!/usr/bin/python3
"""PyTorch reference for bench/: one training step (forward, backward,
SGD with momentum 0.9, dampening 0) of the same LeNet, MLP, VGG16-BN or
ResNet18 as host/models, on a fixed synthetic batch, with
torch.set_num_threads(2).

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


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    """VGG16 with batch norm as host/models builds it: 3×3 convolutions
    with bias, BN, ReLU, five max-pools, and the classifier dropout 0.5 →
    512→512 → ReLU → dropout 0.5 → 512→512 → ReLU → 512→classes."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU(inplace=True),
            nn.Linear(512, CLASSES))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet18(nn.Module):
    """The CIFAR ResNet18 of host/models: 3×3 stem (no max-pool),
    BasicBlocks [2, 2, 2, 2], 4×4 average pool, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for i, planes in enumerate([64, 128, 256, 512]):
            for b in range(2):
                blocks.append(BasicBlock(cin, planes, 2 if i > 0 and b == 0 else 1))
                cin = planes
        self.layers = nn.Sequential(*blocks)
        self.linear = nn.Linear(512, CLASSES)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(F.avg_pool2d(x, 4).flatten(1))


MODELS = {"lenet": LeNet, "mlp": MLP, "vgg16": VGG16, "resnet18": ResNet18}


def peak_rss_mib():
    """Peak resident set of this process so far in MiB: VmHWM of
    /proc/self/status (ru_maxrss is kept across execve, so a child of a
    large parent would report the parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_name, batch, steps, warmup):
    torch.manual_seed(1)
    model = MODELS[model_name]()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, CLASSES, (batch,))
    times, cpu = [], []
    for i in range(warmup + steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        c1 = time.process_time()
        if i >= warmup:
            times.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
    return {"model": model_name, "batch": batch, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "median_ms": statistics.median(times), "ms": times,
            "cpu_ms": cpu, "peak_rss_mib": peak_rss_mib()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="lenet")
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
