"""The playground's live frames: `neurona serve` trains the spirals preset (2-8-8-1 tanh, Adam
0.03, 200 + 200 points, seed 1) three times through POST /api/playground/live and this script
times the frames as they arrive, then the same file through the blind POST /api/playground/train
for comparison.  Usage: python3 bench/playground_live.py [path/to/neurona]"""
import json, signal, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/neurona"
port = 8931
runs = tempfile.mkdtemp(prefix="neurona-live-")
server = subprocess.Popen([binary, "serve", "--runs", runs, "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.5)
config = """task = "points"
seed = 1
[data]
dataset = "spirals"
points = 200
noise = 0.05
[model]
hidden = [8, 8]
activation = "tanh"
output = "sigmoid"
[optimizer]
kind = "adam"
learning_rate = 0.03
[training]
epochs = 3000
"""
for rnd in range(3):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/playground/live", data=config.encode(), headers={"Content-Type": "application/toml"})
    t0 = time.perf_counter(); frames = []; size = 0
    with urllib.request.urlopen(req) as r:
        for line in r:
            size += len(line)
            m = json.loads(line)
            if m["kind"] == "frame": frames.append((time.perf_counter(), m["epoch"]))
            if m["kind"] == "done": done = (time.perf_counter(), m["epoch"])
    t = [f[0] for f in frames]
    gaps = sorted(b - a for a, b in zip(t, t[1:]))
    fps = (len(t) - 1) / (t[-1] - t[0])
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/playground/train", data=config.encode(), headers={"Content-Type": "application/toml"})
    t1 = time.perf_counter()
    with urllib.request.urlopen(req) as r:
        r.read()
    blind = time.perf_counter() - t1
    print(f"round {rnd}: {len(frames)} frames, {fps:.1f}/s, median gap {1000*gaps[len(gaps)//2]:.1f} ms, max gap {1000*gaps[-1]:.0f} ms, {done[1]} epochs in {done[0]-t0:.2f} s, {size/len(frames)/1024:.1f} KiB a frame; blind request {blind:.2f} s")
server.send_signal(signal.SIGINT); server.wait()
