"""neurona's exported models run by other runtimes.

For each architecture (dense, maxout, conv + max-pool, valid conv + avg-pool, stride-2 conv,
dropout, LSTM, GRU, two RNNs, conv + LSTM, batch normalisation after a conv and a dense layer) this trains a small Fashion-MNIST run with the
`neurona` binary and exports it twice:
- as safetensors, and runs the forward pass in numpy from the file alone (the layer stack, the
  preprocessing and the tensors all come from the file);
- as ONNX, and runs it in onnxruntime on the raw pixels (the preprocessing is in the graph).
Both must give the class probabilities of `neurona predict --json` on the same test images to
1e-5.

Then the linear and logistic models (Lasso on Hitters, logistic on Default, softmax and
one-vs-rest on iris): their exported coefficients, run in numpy (safetensors, float64) and in
onnxruntime (ONNX, float32) on the data file's rows, must give the training metrics neurona
reported (mean squared error, log-likelihood, cross-entropy) to 1e-9 and 1e-5 relative.

    python3 tests/interop/check.py [path/to/neurona]   # needs numpy, safetensors, onnxruntime (PyPI)
"""
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime
from numpy.lib.stride_tricks import sliding_window_view
from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NEURONA = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "neurona")
FASHION = "/usr/share/datasets/fashion-mnist"
TOLERANCE = 1e-5
IMAGES = 64


def layer(kind, keys=""):
    return f"[[model.layers]]\ntype = \"{kind}\"\n{keys}\n"


STACKS = {
    "dense": layer("dense", "units = 16") + layer("dense", 'units = 8\nactivation = "tanh"'),
    "maxout": layer("dense", 'units = 6\nactivation = "maxout"\npieces = 3'),
    "conv-max": layer("conv2d", 'channels = 4\nkernel = 3\npadding = "same"')
    + layer("max_pool2d", "size = 2") + layer("dense", 'units = 8\nactivation = "leaky_relu"'),
    "conv-avg": layer("conv2d", 'channels = 3\nkernel = 5\npadding = "valid"\nactivation = "sigmoid"')
    + layer("avg_pool2d", "size = 2"),
    "conv-stride": layer("conv2d", "channels = 2\nkernel = 3\nstride = 2"),
    "dropout": layer("dense", "units = 12") + layer("dropout", "p = 0.3"),
    "lstm": layer("lstm", "units = 6"),
    "gru": layer("gru", "units = 5") + layer("dense", "units = 4"),
    "rnn": layer("rnn", "units = 4") + layer("rnn", "units = 3"),
    "conv-lstm": layer("conv2d", "channels = 2\nkernel = 3") + layer("lstm", "units = 4"),
    "batch-norm": layer("conv2d", "channels = 3\nkernel = 3") + layer("batch_norm", "")
    + layer("max_pool2d", "size = 2") + layer("dense", "units = 8")
    + layer("batch_norm", "momentum = 0.2\nepsilon = 1e-3"),
}


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows * cols)


def test_images():
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
        path = os.path.join(FASHION, name)
        if os.path.exists(path):
            return read_idx_images(path)[:IMAGES]
    sys.exit(f"{FASHION} has no test images: apt-get install dataset-fashion-mnist")


def load(path):
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
    described = {k[len("neurona."):]: json.loads(v) for k, v in meta.items() if k.startswith("neurona.")}
    return described, tensors


def activate(kind, z, slope):
    if kind == "relu":
        return np.maximum(z, 0)
    if kind == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if kind == "tanh":
        return np.tanh(z)
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-z))
    raise ValueError(kind)


def flat(x):
    if x.ndim == 4:
        return x.reshape(x.shape[0], -1)
    if x.ndim == 3:  # a sequence: its last step
        return x[:, -1, :]
    return x


def windows(x, size, stride):
    """[N, C, H, W] → [N, C, H', W', size, size]."""
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


def conv2d(x, weight, bias, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = weight.shape[-1]
    z = np.einsum("nchwij,ocij->nohw", windows(x, k, stride), weight)
    return z if bias is None else z + bias[None, :, None, None]


def recurrent(kind, x, t, name):
    w_ih, w_hh = t[f"{name}.weight_ih_l0"], t[f"{name}.weight_hh_l0"]
    b_ih = t.get(f"{name}.bias_ih_l0", np.zeros(w_ih.shape[0]))
    b_hh = t.get(f"{name}.bias_hh_l0", np.zeros(w_hh.shape[0]))
    n, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h, c = np.zeros((n, hidden)), np.zeros((n, hidden))
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    out = []
    for s in range(steps):
        gi, gh = x[:, s] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if kind == "lstm":  # PyTorch's gate order: i, f, g, o
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        elif kind == "gru":  # r, z, n; the reset gate scales the hidden part of n
            ir, iz, i_n = np.split(gi, 3, axis=1)
            hr, hz, h_n = np.split(gh, 3, axis=1)
            r, z = sigmoid(ir + hr), sigmoid(iz + hz)
            h = (1 - z) * np.tanh(i_n + r * h_n) + z * h
        else:
            h = np.tanh(gi + gh)
        out.append(h)
    return np.stack(out, axis=1)


def forward(described, t, pixels):
    pre, shape = described["preprocessing"], described["input"]
    x = (pixels.astype(np.float64) / 255 - pre["mean"]) / pre["std"]
    x = x.reshape(len(pixels), shape["channels"], shape["height"], shape["width"])
    slope = described["leaky_slope"]
    for i, spec in enumerate(described["layers"]):
        name, kind = f"layers.{i}", spec["type"]
        if kind == "dense":
            z = flat(x) @ t[f"{name}.weight"].T + t.get(f"{name}.bias", 0)
            if spec["activation"] == "maxout":
                x = z.reshape(len(z), spec["units"], spec["pieces"]).max(axis=2)
            else:
                x = activate(spec["activation"], z, slope)
        elif kind == "conv2d":
            z = conv2d(x, t[f"{name}.weight"], t.get(f"{name}.bias"), spec["stride"], spec["padding"])
            x = activate(spec["activation"], z, slope)
        elif kind in ("max_pool2d", "avg_pool2d"):
            w = windows(x, spec["size"], spec["stride"])
            x = w.max(axis=(4, 5)) if kind == "max_pool2d" else w.mean(axis=(4, 5))
        elif kind == "dropout":
            pass  # identity when predicting
        elif kind == "batch_norm":  # the running estimates, per channel (image) or feature
            axes = (None, slice(None)) + (None,) * (x.ndim - 2)
            mean, var = t[f"{name}.running_mean"][axes], t[f"{name}.running_var"][axes]
            x = (x - mean) / np.sqrt(var + spec["epsilon"]) * t[f"{name}.weight"][axes] + t[f"{name}.bias"][axes]
        elif kind in ("lstm", "gru", "rnn"):
            if x.ndim == 4:  # an image read row by row: H steps of C·W features
                n, c, h, w = x.shape
                x = x.transpose(0, 2, 1, 3).reshape(n, h, c * w)
            x = recurrent(kind, x, t, name)
        else:
            raise ValueError(f"unknown layer {kind}")
    scores = flat(x) @ t["output.weight"].T + t.get("output.bias", 0)
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


GLM_RUNS = {
    "hitters-lasso": "data/Hitters.csv",
    "default-logistic": "data/Default.csv",
    "iris-softmax": "data/iris.csv",
    "iris-ovr": "data/iris.csv",
}


def glm_design(path, features, target):
    """The design rows the run's features name, built from the CSV: a column, `column^k`, or a
    one-hot level `column_level`; rows with a missing target are dropped, as neurona does."""
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r[target].strip() not in ("", "NA", "NaN", "nan")]
    columns = list(rows[0].keys())

    def value(row, name):
        if name in columns:
            return float(row[name])
        if "^" in name:
            column, power = name.rsplit("^", 1)
            return float(row[column]) ** int(power)
        column = next(c for c in columns if name.startswith(c + "_"))
        return 1.0 if row[column] == name[len(column) + 1:] else 0.0

    return np.array([[value(r, f) for f in features] for r in rows]), [r[target] for r in rows]


def glm_score(link, out, targets, classes):
    """The training metric neurona reports for `link`, from the model's outputs."""
    if link == "identity":
        return float(((out[:, 0] - np.array([float(t) for t in targets])) ** 2).mean())
    if link == "logistic":
        positive = np.array([t == classes[1] for t in targets])
        p = out[:, 0].astype(np.float64)
        return float(np.sum(np.where(positive, np.log(p), np.log(1 - p))))
    index = np.array([classes.index(t) for t in targets])
    return float(-np.log(out[np.arange(len(index)), index].astype(np.float64)).mean())


def check_glms(work):
    for name, data in GLM_RUNS.items():
        with open(os.path.join(ROOT, "configs", f"{name}.toml")) as f:
            text = f.read().replace('dir = "artifacts"', f'dir = "{work}"')
        config = os.path.join(work, f"{name}.toml")
        with open(config, "w") as f:
            f.write(text)
        run("train", config)
        run_dir = os.path.join(work, name)
        run("export", run_dir, "--format", "safetensors")
        run("export", run_dir, "--format", "onnx")
        described, tensors = load(os.path.join(run_dir, "model.safetensors"))
        link, classes = described["link"], described["classes"]
        x, targets = glm_design(os.path.join(ROOT, data), described["features"], described["target"])
        with open(os.path.join(run_dir, "coefficients.json")) as f:
            report = json.load(f)
        expected = {"identity": lambda r: r["train"]["mse"], "logistic": lambda r: r["log_likelihood"]}.get(
            link, lambda r: r["train"]["cross_entropy"])(report)
        scores = x @ tensors["linear.weight"].T + tensors["linear.bias"]
        if link == "logistic":
            ours = 1 / (1 + np.exp(-scores))
        elif link == "softmax":
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            ours = e / e.sum(axis=1, keepdims=True)
        elif link == "one_vs_rest":
            each = 1 / (1 + np.exp(-scores))
            ours = each / each.sum(axis=1, keepdims=True)
        else:
            ours = scores
        session = onnxruntime.InferenceSession(os.path.join(run_dir, "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        onnx = session.run(None, {"features": x.astype(np.float32)})[0]
        for runtime, out, tolerance in (("numpy", ours, 1e-9), ("onnxruntime", onnx, 1e-5)):
            got = glm_score(link, out, targets, classes)
            relative = abs(got / expected - 1)
            print(f"{'ok' if relative <= tolerance else 'FAIL'}: {name:16} {runtime:11} {link:11} "
                  f"training metric {got:.10g} vs neurona's {expected:.10g} (relative {relative:.1e})")
            if relative > tolerance:
                sys.exit(1)


def run(*args):
    done = subprocess.run([NEURONA, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"neurona {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main():
    images = test_images()
    work = tempfile.mkdtemp(prefix="neurona-interop-")
    files = []
    for k, image in enumerate(images):
        path = os.path.join(work, f"image-{k}.pgm")
        with open(path, "wb") as f:
            f.write(b"P5\n28 28\n255\n" + image.tobytes())
        files.append(path)
    worst_overall = 0.0
    for name, stack in STACKS.items():
        config = os.path.join(work, f"{name}.toml")
        with open(config, "w") as f:
            f.write(f'[data]\ndataset = "fashion-mnist"\ntrain_limit = 600\ntest_limit = 100\n'
                    f'standardize = true\n[training]\nepochs = 1\nbatch_size = 64\n'
                    f'[output]\ndir = "{work}"\nname = "{name}"\n{stack}')
        run("train", config)
        run_dir = os.path.join(work, name)
        run("export", run_dir, "--format", "safetensors")
        described, tensors = load(os.path.join(run_dir, "model.safetensors"))
        ours = forward(described, tensors, images)
        theirs = np.array([json.loads(line)["probabilities"]
                           for line in run("predict", run_dir, *files, "--json").splitlines()])
        run("export", run_dir, "--format", "onnx")
        session = onnxruntime.InferenceSession(os.path.join(run_dir, "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        onnx = session.run(["probabilities"], {"pixels": images.astype(np.float32)})[0]
        for runtime, answer in (("numpy", ours), ("onnxruntime", onnx)):
            worst = float(np.abs(answer - theirs).max())
            worst_overall = max(worst_overall, worst)
            agree = int((answer.argmax(1) == theirs.argmax(1)).sum())
            print(f"{'ok' if worst <= TOLERANCE else 'FAIL'}: {name:12} {runtime:11} vs neurona "
                  f"predict on {len(images)} images: max |Δp| {worst:.2e}, same class {agree}/{len(images)}")
            if worst > TOLERANCE:
                sys.exit(1)
    print(f"all architectures, both runtimes, agree to {worst_overall:.1e} (tolerance {TOLERANCE:g})")
    check_glms(work)


if __name__ == "__main__":
    main()
