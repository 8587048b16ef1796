"""python -m bench: otter against pyinfra, Fabric, Ansible and raw OpenSSH (issue 14).

    python -m bench                          # every workload, 5 rounds after a warm-up
    python -m bench -w W1,W2,W7 --rounds 3   # some workloads
    python -m bench --hosts 1,3 --scale 1,5,10,20 --keep

Writes bench/RESULTS.md (and bench/.out/results.json, bench/w6.png); see bench/README.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import workloads
from .hosts import MAX
from .report import write_results
from .runner import Runner

HERE = Path(__file__).resolve().parent
ALL = ("W1", "W2", "W3", "W7", "W6", "W4", "W5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-w", "--workloads", default=",".join(ALL),
                        help="comma separated: W1..W7 (W4 and W5 run together; W6-noop, "
                             "W6-exec: one half of W6)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after a warm-up")
    parser.add_argument("--hosts", default="1,3", help="host counts for W1 and W2")
    parser.add_argument("--scale", default="1,5,10,20", help="host counts for W6")
    parser.add_argument("--keep", action="store_true", help="leave the bench hosts up")
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv as it is")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--merge", metavar="JSON",
                        help="keep the workloads of an earlier results.json not run again")
    args = parser.parse_args(argv)
    chosen = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    counts = [int(n) for n in args.hosts.split(",")]
    scale = [int(n) for n in args.scale.split(",")]
    run = Runner(HERE / ".out", args.rounds, install=not args.no_install)
    if args.merge:
        run.merge(Path(args.merge))
    save = lambda: write_results(run, Path(args.out))  # noqa: E731
    try:
        if "W3" in chosen:
            run.measure(workloads.w3(run))
            save()
        for count in counts:
            if "W1" in chosen or "W2" in chosen:
                hosts = run.light(count)
                if "W1" in chosen:
                    run.measure(workloads.w1(run, hosts))
                if "W2" in chosen:
                    run.measure(workloads.w2(run, hosts))
                save()
        if "W7" in chosen:
            run.measure(workloads.exec_cases(run, run.light(3), "W7 exec cold/warm", warm=True))
            save()
        if "W5" in chosen:
            run.measure(workloads.w5_systemd(run, run.light(3)))
            save()
        if "W6" in chosen or "W6-NOOP" in chosen:
            for count in [n for n in scale if n <= MAX["light"]]:
                run.measure(workloads.w6_noop(run, run.light(count)))
                save()
            if not args.keep:
                run.down("light")
        if "W6" in chosen or "W6-EXEC" in chosen:
            for count in scale:
                run.measure(workloads.exec_cases(run, run.sshd(count), "W6 scaling"))
                save()
        if any(w.startswith("W6") for w in chosen):
            run.plot(Path(args.out).parent / "w6.png")  # beside the results that show it
        if not args.keep:
            run.down("light")
            run.down("sshd")
        if "W4" in chosen or "W5" in chosen:
            run.measure(workloads.w4_w5(run, run.full(3)))
            save()
    finally:
        if not args.keep:
            for kind in ("light", "sshd", "full"):
                run.down(kind)
        run.finish()
        save()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
