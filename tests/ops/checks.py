"""checks.py: what the ops tests written in Python share: named checks that
print one line each and are all reported at the end, and a value read from
usher's /metrics."""
import sys
import urllib.request

failures = []


def check(name, ok, detail=""):
    """One line per check; a failed one is remembered for done()."""
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}", flush=True)
    if not ok:
        failures.append(name)


def metric(mport, name):
    """The value of series `name` (with its labels, as printed) on the
    metrics endpoint at 127.0.0.1:mport; 0 when absent."""
    page = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics",
                                  timeout=5).read().decode()
    for line in page.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    return 0


def done():
    """Exit 1 when any check failed, else 0."""
    sys.exit(1 if failures else 0)
