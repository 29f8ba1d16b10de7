#!/usr/bin/env python3
"""What abusive clients cost `neurona serve`: figures for BENCHMARKS.md ("The page's server under
abuse"). Starts `neurona serve` with the common limit of 1024 open files on a scratch runs folder
and measures, from the outside:

1. a flood of 1,100 idle TCP connections (a quarter of them slowloris: half a header line): how
   long a new client then waits for `GET /api/runs`, and how many flood connections the server
   still holds after its header timeout;
2. a run whose metrics.json holds 150,000 epochs (~40 MB): the server's peak resident memory over
   20 parallel `GET /api/runs/NAME`, and the time they take;
3. 40 event streams that never read: memory, and how long `GET /api/runs` then takes;
4. six playground requests at the playground's limits at once: how many train, and the CPU the
   server spends once their clients have gone;
5. Ctrl-C with an idle connection open: how long the server takes to end.

Usage: python3 bench/serve_abuse.py target/release/neurona
"""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def start(binary, runs):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    server = subprocess.Popen([binary, "serve", "--port", "0", "--runs", runs],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              preexec_fn=limit, text=True)
    line = server.stdout.readline()
    address = line.split("http://")[1].strip().rstrip("/")
    host, port = address.rsplit(":", 1)
    return server, (host, int(port))


def request(address, head, body=b"", timeout=120):
    s = socket.create_connection(address, timeout=timeout)
    s.sendall(head.encode() + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        try:
            chunk = s.recv(1 << 20)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data[9:12] or 0), data


def get(address, path):
    return request(address, f"GET {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}")


def post_toml(address, path, body):
    return request(address, f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                            "Content-Type: application/toml", body.encode())


def rss_mb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    binary = sys.argv[1]
    runs = tempfile.mkdtemp(prefix="neurona-abuse-")
    big = os.path.join(runs, "long")
    os.makedirs(big)
    open(os.path.join(big, "config.toml"), "w").write("[data]\ndataset = \"fashion-mnist\"\n")
    open(os.path.join(big, ".neurona-run"), "w").write("image_classification\n")
    epochs = [{"epoch": e, "train_loss": 0.5 + 1e-6 * e, "train_accuracy": 0.81234567,
               "valid_loss": 0.55 + 1e-6 * e, "valid_accuracy": 0.80123456, "seconds": 1.2345678}
              for e in range(1, 150_001)]
    json.dump({"epochs": epochs, "best_epoch": 1, "test": None}, open(os.path.join(big, "metrics.json"), "w"))
    size = os.path.getsize(os.path.join(big, "metrics.json")) / 1e6
    server, address = start(binary, runs)
    pid = server.pid
    print(f"server pid {pid}, {address}, metrics.json {size:.1f} MB, RSS at start {rss_mb(pid):.0f} MB")

    # 1. Flood.
    flood = []
    for i in range(1100):
        try:
            s = socket.create_connection(address, timeout=5)
            if i % 4 == 0:
                s.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 12")
            flood.append(s)
        except OSError:
            pass
    started = time.perf_counter()
    status, _ = get(address, "/api/runs")
    waited = time.perf_counter() - started
    print(f"1. flood: {len(flood)} connections opened; new client: {status} in {1e3 * waited:.1f} ms; "
          f"server holds {open_fds(pid)} fds")
    time.sleep(11)
    print(f"   after 11 s (header timeout 10 s): server holds {open_fds(pid)} fds")
    for s in flood:
        s.close()

    # 2. Big metrics, 20 parallel readers.
    times = []

    def read_detail():
        t = time.perf_counter()
        status, data = get(address, "/api/runs/long")
        times.append((time.perf_counter() - t, status, len(data)))

    threads = [threading.Thread(target=read_detail) for _ in range(20)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - started
    print(f"2. 20 parallel GET /api/runs/long: all {set(s for _, s, _ in times)}, "
          f"{max(n for _, _, n in times) / 1e6:.1f} MB each, {total:.2f} s in all; "
          f"server peak RSS {rss_mb(pid, 'VmHWM'):.0f} MB")

    # 3. Streams that never read.
    streams = []
    for _ in range(40):
        s = socket.create_connection(address)
        s.sendall(f"GET /api/runs/long/events HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n\r\n".encode())
        streams.append(s)
    time.sleep(3)
    started = time.perf_counter()
    status, _ = get(address, "/api/runs")
    print(f"3. 40 unread event streams: RSS {rss_mb(pid):.0f} MB; GET /api/runs {status} in "
          f"{1e3 * (time.perf_counter() - started):.1f} ms")
    for s in streams:
        s.close()

    # 4. Six heavy playground requests at once.
    heavy = ("[data]\ndataset = \"spirals\"\npoints = 1000\n[model]\nhidden = [96, 96]\n"
             "output = \"sigmoid\"\n[optimizer]\nlearning_rate = 0.1\n[training]\nepochs = 20000\n")
    answers = []
    clients = []
    for _ in range(6):
        s = socket.create_connection(address)
        body = heavy.encode()
        s.sendall(f"POST /api/playground/train HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                  f"Content-Type: application/toml\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        clients.append(s)
    time.sleep(1)
    for s in clients:
        s.setblocking(False)
        try:
            answers.append(s.recv(64)[9:12].decode() or "training")
        except BlockingIOError:
            answers.append("training")
    for s in clients:
        s.close()
    time.sleep(1.5)
    before = cpu_seconds(pid)
    time.sleep(3)
    print(f"4. six heavy playground requests: {answers}; CPU in the 3 s after their clients left: "
          f"{cpu_seconds(pid) - before:.2f} s")

    # 5. Ctrl-C.
    idle = socket.create_connection(address)
    started = time.perf_counter()
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)
    print(f"5. Ctrl-C with an idle connection open: ended in {time.perf_counter() - started:.2f} s")
    idle.close()


if __name__ == "__main__":
    main()
