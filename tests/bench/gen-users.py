#!/usr/bin/env python3
"""gen-users.py N DOMAIN > users.txt: a synthetic users_file for benchmarks.

About 90% active users with their own targets spread over a few dozen PBX
addresses, the rest gone, unavailable (some with retry_after) or moved, plus
a few hundred number blocks. Deterministic: the same N gives the same file.
"""
import random
import sys


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: gen-users.py N DOMAIN\n")
        return 2
    n = int(sys.argv[1])
    domain = sys.argv[2]
    rnd = random.Random(4242)
    pbxs = ["10.0.%d.%d" % (i // 8, 10 + i % 8 * 3) for i in range(48)]
    nprefix = min(300, max(1, n // 1000))
    out = []
    w = out.append
    w("# synthetic users_file: %d users, %d number blocks\n" % (n, nprefix))
    for i in range(n):
        user = "u%06d" % i
        r = rnd.random()
        if r < 0.90:
            w("%s@%s active sip:%s@%s:5060\n"
              % (user, domain, user, rnd.choice(pbxs)))
        elif r < 0.95:
            w("%s@%s gone\n" % (user, domain))
        elif r < 0.98:
            if rnd.random() < 0.5:
                w("%s@%s unavailable retry_after=%d\n"
                  % (user, domain, rnd.choice((60, 300, 3600))))
            else:
                w("%s@%s unavailable\n" % (user, domain))
        else:
            w("%s@%s moved sip:%s@partner%d.example.net\n"
              % (user, domain, user, rnd.randrange(5)))
        if len(out) >= 65536:
            sys.stdout.write("".join(out))
            out.clear()
    for i in range(nprefix):
        w("+1%d*@%s active sip:%s:5060\n"
          % (200 + i, domain, rnd.choice(pbxs)))
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
