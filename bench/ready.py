"""Time from exec to the first successful signed GetCallerIdentity.

Usage: ready.py HOST PORT PATH_FILE -- COMMAND...
Starts COMMAND, then polls `GET PATH` (a presigned GetCallerIdentity signed for HOST:PORT) in a
tight loop (a refused connection fails at once, so the loop costs well under a millisecond per try)
until the answer is HTTP 200; prints the elapsed milliseconds from just before exec, then stops the
process with SIGTERM (SIGKILL after 5 s).
"""
import http.client
import signal
import subprocess
import sys
import time

host, port, path_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cmd = sys.argv[sys.argv.index("--") + 1:]
path = open(path_file).read().strip()

t0 = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
status = None
try:
    while True:
        if proc.poll() is not None:
            sys.exit(f"server exited with status {proc.returncode} before it was ready")
        if time.monotonic() - t0 > 60:
            sys.exit("not ready after 60 s")
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            status = r.status
            if status == 200:
                break
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
    elapsed_ms = (time.monotonic() - t0) * 1000
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
print(f"{elapsed_ms:.1f}")
