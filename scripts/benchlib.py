"""What the benchmark scripts share: free loopback ports, a local docker-registry, waiting for
an HTTP endpoint to answer."""
import socket
import subprocess
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_registry(work):
    """Debian's docker-registry with its storage under WORK; returns (host:port, process)."""
    addr = f"127.0.0.1:{free_port()}"
    with open(f"{work}/registry.yml", "w") as f:
        f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {work}/registry\nhttp:\n  addr: {addr}\n")
    process = subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://{addr}/v2/")
    return addr, process


def wait_http(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            return urllib.request.urlopen(url, timeout=2)
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")
