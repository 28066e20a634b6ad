#!/usr/bin/env python3
"""Lint the Docker files without Docker (no engine can run where the tests run).

    docker_lint.py dockerfile SOURCE_DIR   stages, base images, USER, HEALTHCHECK, COPY sources, ...
    docker_lint.py compose SOURCE_DIR      docker-compose.dgx-spark.yml parsed as YAML (PyYAML;
                                           exit 77 = skipped when it is not installed)

Prints every finding and "N passed, N failed"; exits 1 when anything failed.
"""
import os
import re
import shlex
import sys

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)


def dockerfile_instructions(path):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            parts = cur.strip().split(None, 1)
            out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
            cur = ""
    return out


def substitute(text, args):
    def rep(m):
        return args.get(m.group(1) or m.group(2), m.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", rep, text)


def lint_dockerfile(src):
    path = os.path.join(src, "Dockerfile")
    ins = dockerfile_instructions(path)
    args = {}
    stages = []  # dicts: image, name, instructions
    for op, rest in ins:
        if op == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", rest, re.I)
            check(m is not None, "FROM %s: cannot parse" % rest)
            if m:
                stages.append({"image": substitute(m.group(1), args), "name": m.group(2),
                               "ins": []})
        elif stages:
            stages[-1]["ins"].append((op, rest))
    by_name = {s["name"]: s for s in stages if s["name"]}
    cuda = args.get("CUDA_VERSION", "")
    check(cuda.startswith("13."), "ARG CUDA_VERSION=%r is not CUDA 13" % cuda)
    check(args.get("UBUNTU_VERSION") == "24.04", "ARG UBUNTU_VERSION is not 24.04")
    build = by_name.get("build")
    check(build is not None, "no stage named build")
    check(build and build["image"] == "nvidia/cuda:%s-devel-ubuntu24.04" % cuda,
          "build stage is not FROM nvidia/cuda:%s-devel-ubuntu24.04 (%s)"
          % (cuda, build and build["image"]))
    final = stages[-1] if stages else None
    check(final and final["name"] == "runtime", "the last stage is not named runtime")
    check(final and final["image"] == "nvidia/cuda:%s-runtime-ubuntu24.04" % cuda,
          "runtime stage is not FROM nvidia/cuda:%s-runtime-ubuntu24.04 (%s)"
          % (cuda, final and final["image"]))
    for s in stages:
        check(not s["image"].endswith(":latest") and ":" in s["image"] or s["image"] in by_name,
              "stage image %s has no pinned tag" % s["image"])

    def runs(stage):
        return " ".join(r for op, r in stage["ins"] if op == "RUN") if stage else ""

    check("scripts/install-deps.sh" in runs(build),
          "build stage does not install dependencies with scripts/install-deps.sh")
    check("-DDL_CUDA=ON" in runs(build), "build stage does not build the CUDA module (-DDL_CUDA=ON)")
    check("cmake --install" in runs(build), "build stage does not cmake --install")
    check("install-deps.sh --runtime" in runs(final),
          "runtime stage does not install its libraries with install-deps.sh --runtime")
    check(re.search(r"rm -rf /var/lib/apt/lists", runs(final)) is not None,
          "runtime stage keeps the apt lists")
    check(any(op == "COPY" and "--from=build" in r for op, r in final["ins"]),
          "runtime stage copies nothing from the build stage")
    users = [r.strip() for op, r in final["ins"] if op == "USER"]
    check(users, "runtime stage has no USER")
    if users:
        u = users[-1].split(":")[0]
        check(u not in ("root", "0"), "runtime stage runs as root (USER %s)" % users[-1])
    hc = [r for op, r in final["ins"] if op == "HEALTHCHECK"]
    check(len(hc) == 1, "runtime stage has %d HEALTHCHECK instructions, expected 1" % len(hc))
    if hc:
        check("NONE" not in hc[0].split()[:1], "HEALTHCHECK NONE")
        check("CMD" in hc[0] and "doclayout" in hc[0] and "doctor" in hc[0],
              "HEALTHCHECK does not run doclayout doctor: %s" % hc[0])
        check("--interval=" in hc[0] and "--timeout=" in hc[0],
              "HEALTHCHECK sets no --interval/--timeout")
    check(any(op == "ENTRYPOINT" for op, _ in final["ins"]), "runtime stage has no ENTRYPOINT")
    # local sources of COPY/ADD exist and are not excluded from the context
    ignored = []
    di = os.path.join(src, ".dockerignore")
    if os.path.exists(di):
        with open(di, encoding="utf-8") as f:
            ignored = [l.strip().rstrip("/") for l in f if l.strip() and not l.startswith("#")]
    for s in stages:
        for op, rest in s["ins"]:
            if op == "ADD":
                check(False, "ADD %s: use COPY for local files" % rest)
            if op != "COPY" or "--from=" in rest:
                continue
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for source in words[:-1]:
                check(source == "." or os.path.exists(os.path.join(src, source)),
                      "COPY source %s does not exist" % source)
                check(not any(source == g or source.startswith(g + "/") for g in ignored),
                      "COPY source %s is excluded by .dockerignore" % source)
        for op, rest in s["ins"]:
            if op == "RUN":
                check("sudo " not in rest, "RUN uses sudo: %s" % rest[:60])
                check(not re.search(r"apt-get install(?!.*--no-install-recommends)", rest),
                      "apt-get install without --no-install-recommends: %s" % rest[:60])
    watch = os.path.join(src, "scripts", "docker-watch.sh")
    check(os.access(watch, os.X_OK), "scripts/docker-watch.sh is missing or not executable")
    check(".git" in ignored and any(g.startswith("build") for g in ignored),
          ".dockerignore does not exclude .git and build directories")
    return stages


def lint_compose(src):
    try:
        import yaml  # noqa: PLC0415 (optional dependency)
    except ImportError:
        # CI (CI=true) installs it (scripts/install-deps.sh --lint): there a skip is a failure
        if os.environ.get("CI") in ("true", "1"):
            print("compose: FAILED: PyYAML is not installed, and CI must have it")
            sys.exit(1)
        print("compose: skipped: PyYAML is not installed (apt-get install python3-yaml)")
        sys.exit(77)
    path = os.path.join(src, "docker-compose.dgx-spark.yml")
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    check(isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services")
    svcs = doc.get("services") or {}
    check(len(svcs) >= 1, "no service defined")
    stages = [s["name"] for s in lint_dockerfile_quiet(src)]
    with open(os.path.join(src, "Dockerfile"), encoding="utf-8") as f:
        dockerfile_text = f.read()
    for name, s in svcs.items():
        where = "services.%s" % name
        check(isinstance(s, dict), where + " is not a mapping")
        b = s.get("build") or {}
        check(s.get("image") or b, where + " has neither image nor build")
        if b:
            check(os.path.exists(os.path.join(src, b.get("context", "."), b.get("dockerfile", "Dockerfile"))),
                  where + ".build.dockerfile does not exist")
            check(b.get("target") in (None, *stages), where + ".build.target is not a Dockerfile stage")
        check(s.get("platform") == "linux/arm64", where + ".platform is not linux/arm64 (DGX Spark)")
        devs = (((s.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")
        check(isinstance(devs, list) and any(
            isinstance(d, dict) and d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or [])
            for d in devs), where + ".deploy.resources.reservations.devices reserves no nvidia gpu")
        restart = str(s.get("restart", ""))
        check(re.fullmatch(r"always|unless-stopped|on-failure(:\d+)?", restart) is not None,
              where + ".restart is %r" % restart)
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        vols = s.get("volumes") or []
        targets = {}
        for v in vols:
            if isinstance(v, str):
                parts = v.split(":")
                # host[:target[:mode]] with ${VAR:-default} hosts containing ':'
                m = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::(\w+))?", v)
                check(m is not None, where + ".volumes: cannot parse %r" % v)
                if m:
                    targets[m.group(2)] = m.group(3) or "rw"
            elif isinstance(v, dict):
                targets[v.get("target")] = "ro" if v.get("read_only") else "rw"
        hf = env.get("HF_HOME")
        check(hf in targets, where + ": HF_HOME %r is not a mounted volume" % hf)
        check(targets.get(hf) == "ro", where + ": the Hugging Face cache is not mounted read-only")
        cmd = s.get("command") or []
        cmd = cmd if isinstance(cmd, list) else shlex.split(str(cmd))
        if "serve" in cmd:  # doclayout serve (docs/server.md)
            check("--host" in cmd and cmd[cmd.index("--host") + 1] == "0.0.0.0",
                  where + ": serve does not listen on --host 0.0.0.0 in its container")
            check("--api-key-env" in cmd and
                  str(env.get(cmd[cmd.index("--api-key-env") + 1], "")).startswith("${"),
                  where + ": the API key does not come from the environment (--api-key-env)")
            hc = s.get("healthcheck") or {}
            check("/v2/health/ready" in " ".join(hc.get("test") or []),
                  where + ".healthcheck does not ask /v2/health/ready")
            check(s.get("user") and not str(s.get("user")).startswith(("root", "0:")),
                  where + ".user is root or unset")
            continue
        for key in ("DOCLAYOUT_IN", "DOCLAYOUT_OUT"):
            check(env.get(key) in targets, where + ": %s %r is not a mounted volume" % (key, env.get(key)))
        check(targets.get(env.get("DOCLAYOUT_OUT")) == "rw", where + ": the output folder is read-only")
        hc = s.get("healthcheck") or {}
        test = hc.get("test") or []
        test = test if isinstance(test, list) else shlex.split(str(test))
        check("doctor" in test and "cuda" in test, where + ".healthcheck does not run doctor --device cuda")
        user = str(s.get("user", ""))
        check(user and not user.startswith(("root", "0:")) and user != "0", where + ".user is root or unset")
        ep = s.get("entrypoint")
        if ep:
            exe = ep[0] if isinstance(ep, list) else shlex.split(ep)[0]
            check(exe in dockerfile_text, where + ".entrypoint %s is not installed by the Dockerfile" % exe)


def lint_dockerfile_quiet(src):
    global passed, failed
    p, f = passed, failed
    stages = lint_dockerfile(src)
    passed, failed = p, f  # counted by the dockerfile test, not twice
    return stages


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("dockerfile", "compose"):
        print(__doc__)
        return 2
    src = sys.argv[2]
    if sys.argv[1] == "dockerfile":
        lint_dockerfile(src)
    else:
        lint_compose(src)
    print("docker_lint %s: %d passed, %d failed" % (sys.argv[1], passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
