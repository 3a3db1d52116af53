#!/usr/bin/env python3
"""TCP probes for firewall_test.sh (run inside a network namespace).

  serve PORT                      accept and close connections (v4 and v6)
  probe SRC DST PORT              print open, refused or dropped (no answer)
  first-drop SRC DST PORT SECS    connect every 10 ms; print the epoch time
                                  at which the first unanswered SYN was sent
                                  (or "none" after SECS seconds)
  first-open SRC DST PORT SECS    likewise, the first connect that succeeds
  elements                        read `nft -j list table` on stdin; print
                                  each set element as ADDR[/LEN] and, if it
                                  has one, " timeout SECS"
"""
import json
import socket
import sys
import time

TIMEOUT = 0.25


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def probe(src, dst, port):
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "dropped"
    finally:
        s.close()


def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(128)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.close()


def first(src, dst, port, secs, want):
    end = time.time() + secs
    while time.time() < end:
        start = time.time()
        if probe(src, dst, port) == want:
            print("%.3f" % start)
            return
        time.sleep(max(0.0, 0.01 - (time.time() - start)))
    print("none")


def elements():
    text = sys.stdin.read()
    if not text.strip():
        return
    for item in json.loads(text)["nftables"]:
        for e in item.get("set", {}).get("elem", []):
            timeout = None
            if isinstance(e, dict) and "elem" in e:
                timeout = e["elem"].get("timeout")
                e = e["elem"]["val"]
            if isinstance(e, dict):
                e = "%s/%d" % (e["prefix"]["addr"], e["prefix"]["len"])
            print(e + ("" if timeout is None else " timeout %d" % timeout))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "elements":
        elements()
    elif cmd == "serve":
        serve(int(args[0]))
    elif cmd == "probe":
        print(probe(args[0], args[1], int(args[2])))
    elif cmd in ("first-drop", "first-open"):
        first(args[0], args[1], int(args[2]), float(args[3]),
              "dropped" if cmd == "first-drop" else "open")


if __name__ == "__main__":
    main()
