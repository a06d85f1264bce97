#!/usr/bin/env python3
"""Print one metric's value from usher's Prometheus endpoint.
usage: scrape.py PORT [NAME{labels}]  (no NAME: print the whole page)"""
import sys
import urllib.request

page = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics",
                              timeout=3).read().decode()
if len(sys.argv) < 3:
    sys.stdout.write(page)
    sys.exit(0)
for line in page.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[-1])
        sys.exit(0)
print("0")
