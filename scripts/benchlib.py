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


def start_registry(work, notify=None, name="registry"):
    """Debian's docker-registry with its storage under WORK; returns (host:port, process).
    NOTIFY = (url, token): send its notifications there, with `Authorization: Bearer token`."""
    addr = f"127.0.0.1:{free_port()}"
    config = ("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
              f"storage:\n  filesystem:\n    rootdirectory: {work}/{name}\nhttp:\n  addr: {addr}\n")
    if notify:
        url, token = notify
        config += ("notifications:\n  endpoints:\n  - name: laminar\n"
                   f"    url: {url}\n    headers:\n      Authorization: [\"Bearer {token}\"]\n"
                   "    timeout: 2s\n    threshold: 10\n    backoff: 200ms\n")
    with open(f"{work}/{name}.yml", "w") as f:
        f.write(config)
    process = subprocess.Popen(["docker-registry", "serve", f"{work}/{name}.yml"],
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
