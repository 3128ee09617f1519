"""Prints a TCP port that is free right now on 127.0.0.1 and 0.0.0.0, for the e2e tests' servers.

Why not $((20000 + RANDOM % 20000)): that range overlaps Linux's ephemeral range (32768-60999 by
default), from which every outgoing client connection takes its local port. With the soak and
slow-client tests opening hundreds of connections in parallel with the others, a random port
there was sometimes taken (CI: `Address already in use` for the demo shop of e2e_web_chat).
So ports come from below the ephemeral range and are checked free by binding them; --count N
gives N distinct ports at once (a test with two servers)."""
import random
import socket
import sys


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def is_free(port):
    for host in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def main():
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 1
    hi = min(ephemeral_low(), 32768) - 1
    lo = 10000 if hi > 12000 else 1024
    rng = random.SystemRandom()
    got = []
    for _ in range(10000):
        p = rng.randint(lo, hi)
        if p not in got and is_free(p):
            got.append(p)
            if len(got) == count:
                print(" ".join(map(str, got)))
                return
    raise SystemExit("free_port.py: no free port found in %d..%d" % (lo, hi))


if __name__ == "__main__":
    main()
