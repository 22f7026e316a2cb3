#!/usr/bin/env python3
"""Which panics survive in the optimised firmware, and whose code are they in?

A `panic-never`-style link check (panic handler calling an undefined symbol) cannot pass
today: k256, keccak/digest, heapless and core's sort keep a few bounds checks and `expect`s
that LLVM cannot prove dead. So this script does the next best thing, exactly:

1. disassemble the LTO'd ELF and find every call into a panic entry point (core::panicking::*,
   *_fail, expect_failed, ...), treating core's small non-inlined helpers that only exist to
   panic (slice index, copy_from_slice) as entry points too;
2. map each call site to its innermost source location with addr2line (inlining included);
3. attribute it to the first frame outside core, fail if that is an itc-* source file not in
   panic-allowlist.txt, and list the third-party sites that remain.

Both cores: $TOOLS is the binutils prefix (arm-none-eabi, the default, or riscv64-unknown-elf,
which reads riscv32 ELFs too) and picks how a call or jump is spelled in the disassembly.
"""
import collections, os, re, subprocess, sys

elf = sys.argv[1]
tools = os.environ.get("TOOLS", "arm-none-eabi")
dis = subprocess.run([f"{tools}-objdump", "-d", "--no-show-raw-insn", "-C", elf],
                     capture_output=True, text=True, check=True).stdout
if tools.startswith("riscv"):
    # jal/j/call/tail, auipc+jalr/jr ("jalr 12(ra) # 8000abcd <callee>") and branches.
    CALL = re.compile(r"^\s*([0-9a-f]+):\s+(?:jalr?|jr?|call|tail|b[a-z]{1,4})\s+[^<]*<([^>+]*)")
else:
    CALL = re.compile(r"^\s*([0-9a-f]+):\s+b(?:l|\.w|)(?:\.w)?\s+[0-9a-f]+ <([^>+]*)")

ROOT = re.compile(r"core::panicking::|panic_bounds_check|_fail\b|_failed\b|expect_failed|unwrap_failed|panic_fmt")
calls = collections.defaultdict(list)  # function -> [(site address, callee)]
fn = None
for line in dis.splitlines():
    m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
    if m:
        fn = m.group(2)
        continue
    m = CALL.match(line)
    if m and fn is not None:
        calls[fn].append((m.group(1), m.group(2)))

panicky = {f for f in list(calls) + [c for v in calls.values() for _, c in v] if ROOT.search(f)}
changed = True
while changed:  # core helpers whose only job is to check and panic
    changed = False
    for f, sites in calls.items():
        if f not in panicky and re.match(r"<?core::", f) and any(c in panicky for _, c in sites):
            panicky.add(f)
            changed = True

sites = [(a, f, c) for f, v in calls.items() if f not in panicky for a, c in v if c in panicky]
ALLOWED = {l.split("#")[0].strip() for l in open("panic-allowlist.txt")} - {""}
origin = collections.Counter()
new = []
for addr, f, callee in sites:
    frames = subprocess.run([f"{tools}-addr2line", "-e", elf, "-i", addr],
                            capture_output=True, text=True).stdout.splitlines() or ["?"]
    # Attribute the site to the first frame outside core (core's checks are inlined into the
    # caller that used them: a `copy_from_slice` that can panic is its caller's panic).
    frame = next((x for x in frames if "/library/core/" not in x), frames[0])
    ours = re.search(r"/((?:itc-[a-z-]+|firmware)/src/[^:]+)", frame)
    if ours:
        key = ours.group(1)
        if key not in ALLOWED and not key.startswith("firmware/"):
            new.append(f"{frame} (in {f[:80]} -> {callee[:50]})")
    else:
        c = re.search(r"/([A-Za-z0-9_-]+?)-\d+\.\d+\.\d+[^/]*/src/", frame)
        key = c.group(1) if c else "core"
    origin[key] += 1

print(f"panic call sites left after LTO: {len(sites)} (by the first non-core source frame)")
for k, n in sorted(origin.items()):
    mark = " (allow-listed, see panic-allowlist.txt)" if k in ALLOWED else ""
    print(f"  {n:3d}  {k}{mark}")
if new:
    print("FAIL: new panic sites in itc-* code:")
    print("\n".join("  " + o for o in new))
    sys.exit(1)
print("ok: no panic site in itc-* code beyond the allow-list")
