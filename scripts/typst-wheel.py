#!/usr/bin/env python3
"""`typst` for postmortem from PyPI's prebuilt compiler (the `typst` wheel), so a fresh machine
need not compile typst-cli for a quarter of an hour.

It does what the report needs of typst-cli, with the same arguments and the same exit codes:
`typst --version`, `typst fonts [--font-path DIR]` (one family per line) and `typst compile
[--root DIR] [--font-path DIR] [--creation-timestamp SECS] [--diagnostic-format short|human]
INPUT OUTPUT`. Anything else is refused with exit 2, as typst-cli refuses an unknown argument.
It cannot prove that the wheel's compiler lays out exactly as typst-cli of the same version does;
scripts/typst-compare.sh compares the two on the demo's answers where both are installed.
"""
import signal
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `typst fonts | head` ends quietly, as typst-cli does

try:
    import typst
except ImportError as e:  # the venv lost its package: say so, as a missing binary would
    print(f"error: the typst wheel is not installed in {sys.executable}: {e}", file=sys.stderr)
    sys.exit(127)

USAGE = "usage: typst (--version | fonts [--font-path DIR] | compile [OPTIONS] INPUT OUTPUT)"


def fail(msg, code=2):
    print(f"error: {msg}\n{USAGE}", file=sys.stderr)
    sys.exit(code)


def options(args, known):
    """Split `--opt VALUE` / `--opt=VALUE` options (each in `known`) from positionals."""
    opts, pos, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name not in known:
                fail(f"unexpected argument '--{name}'")
            if not eq:
                i += 1
                if i >= len(args):
                    fail(f"a value is required for '--{name}'")
                value = args[i]
            opts.setdefault(name, []).append(value)
        else:
            pos.append(a)
        i += 1
    return opts, pos


def fonts(args):
    opts, pos = options(args, {"font-path"})
    if pos:
        fail(f"unexpected argument '{pos[0]}'")
    for family in sorted(set(typst.Fonts(font_paths=opts.get("font-path", [])).families())):
        print(family)


def compile_(args):
    opts, pos = options(args, {"root", "font-path", "creation-timestamp", "diagnostic-format"})
    if len(pos) != 2:
        fail("compile takes INPUT and OUTPUT")
    kw = {"font_paths": opts.get("font-path", [])}
    if "root" in opts:
        kw["root"] = opts["root"][-1]
    if "creation-timestamp" in opts:
        try:
            kw["timestamp"] = int(opts["creation-timestamp"][-1])
        except ValueError:
            fail("--creation-timestamp takes seconds since the epoch")
    try:
        _, warnings = typst.compile_with_warnings(pos[0], output=pos[1], **kw)
    except typst.TypstError as e:
        print(e.diagnostic or f"error: {e.message}", file=sys.stderr)
        sys.exit(1)
    except (OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    for w in warnings:
        print(w.diagnostic or f"warning: {w.message}", file=sys.stderr)


def main(argv):
    if not argv:
        fail("a subcommand is required")
    if argv[0] in ("--version", "-V"):
        print(f"typst {typst.__version__} (the typst wheel {typst.__version__})")
    elif argv[0] == "fonts":
        fonts(argv[1:])
    elif argv[0] in ("compile", "c"):
        compile_(argv[1:])
    else:
        fail(f"unrecognized subcommand '{argv[0]}'")


if __name__ == "__main__":
    main(sys.argv[1:])
